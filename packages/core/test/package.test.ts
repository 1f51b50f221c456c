/**
 * @kube-audit/core as its users get it: packed by pnpm (so `publishConfig` applies), installed with
 * npm into an empty project outside the workspace, then imported from Node, Node 24 and Bun,
 * type-checked by tsc the way a consumer compiles, its README examples run as written, and its
 * code run in a context that has none of Node's globals.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as source from '../src/index';
import { type Example, exampleBaseName, readmeExamples } from './support/readme';
import { CORE, findBun, findNode24, loadEsbuild, run, tscPath } from './support/tools';

const examples = readmeExamples();
const bun = findBun();
const node24 = findNode24();
const inCI = !!process.env.CI;

let temp: string;
/** The consumer project: an empty npm project with the tarball installed. */
let project: string;
/** Where the package landed: project/node_modules/@kube-audit/core. */
let installed: string;
let tarballBytes = 0;

/**
 * What every runtime runs against the installed package: every step of the pipeline, YAML policy
 * parsing and zod validation. It is shipped to the runtimes as source text, so it must stay plain
 * JavaScript once the types are stripped, and use nothing from its surroundings.
 */
function scenario(core: typeof source): string {
  const { policy } = core.parsePolicy(
    'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Request\n',
  );
  const item = (fields: string) =>
    `{"level":"RequestResponse","verb":"create","requestURI":"/api/v1/namespaces/a/secrets",${fields}}`;
  const secret = '"objectRef":{"resource":"secrets","namespace":"a","name":"db"}';
  const body = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${[
    item(
      `"auditID":"s1","stage":"ResponseComplete",${secret},"requestObject":{"kind":"Secret","data":{"k":"c2VjcmV0"}}`,
    ),
    item(`"auditID":"s1","stage":"ResponseComplete",${secret}`),
    item(
      `"auditID":"big","stage":"ResponseComplete","requestObject":{"n":9007199254740993,"pad":"${'x'.repeat(600)}"}`,
    ),
    item('"auditID":"early","stage":"RequestReceived"'),
    '{"auditID":"no-stage"}',
  ].join(',')}]}`;
  const parsed = core.parsePayload(body);
  const pipeline = core.createPipeline({ policy, cluster: 'c1', maxEventBytes: 512 });
  const result = pipeline.process(parsed);
  // The API server's retry of the same batch: every event a duplicate (with or without TextEncoder).
  const retry = pipeline.process(core.parsePayload(body));
  const schema = core.Event.safeParse(JSON.parse(result.lines.split('\n')[0] as string));
  return JSON.stringify({
    exports: Object.keys(core).sort(),
    lines: result.lines,
    counts: [result.received, result.written, result.dropped, result.invalid, result.truncated, result.redacted],
    retry: [retry.written, retry.dropped],
    invalid: parsed.invalid,
    valid: schema.success,
    serialized: core.serializeEvent(
      core.parsePayload('{"auditID":"x","stage":"Panic","level":"None","verb":"get","requestURI":"/","z":1e400}')
        .events[0] as source.AuditEvent,
    ),
  });
}
const expected = JSON.parse(scenario(source));

/** A script that imports the installed package by name and prints the scenario's result. */
const scenarioScript = `import * as core from '@kube-audit/core';\nconsole.log((${scenario.toString()})(core));\n`;

/** A consumer's code, compiled by tsc against the published declarations. */
const consumerTs = `import {
  type BatchResult,
  createPipeline,
  Event,
  type InvalidItem,
  PayloadError,
  type PipelineOptions,
  PolicyError,
  parsePayload,
  parsePolicy,
  serializeEvent,
} from '@kube-audit/core';
import { z } from 'zod';

declare const policyFile: string;
const options: PipelineOptions = { redact: true, maxEventBytes: 0, policy: parsePolicy(policyFile).policy };
const result: BatchResult = createPipeline(options).process(parsePayload('[]'), { cluster: 'c' });
const lines: string = result.lines;
const invalid: readonly InvalidItem[] = parsePayload('[]').invalid;
const status: 400 = new PayloadError('no').status;
const paths = (error: PolicyError): string[] => error.issues.map((issue) => issue.path);
const Received = z.object({ event: Event, receivedAt: z.string() });
const auditID: z.infer<typeof Received>['event']['auditID'] = 'a1';
const line: string = serializeEvent(parsePayload('{}').events[0]!);
// @ts-expect-error maxEventBytes is a number of bytes
createPipeline({ maxEventBytes: '1' });
export { auditID, invalid, line, lines, paths, status };
`;

/**
 * node16 checks the published declarations themselves too (skipLibCheck off, zod's included, which
 * is most of the time); bundler checks resolution and use. Lib files of TypeScript are skipped.
 */
function tsconfig(module: string, moduleResolution: string, skipLibCheck: boolean) {
  return {
    compilerOptions: {
      module,
      moduleResolution,
      target: 'es2022',
      // console, Request and Response, as on Bun and edge runtimes; no Node types.
      lib: ['es2022', 'dom'],
      types: [],
      strict: true,
      noEmit: true,
      skipLibCheck,
      skipDefaultLibCheck: true,
    },
    include: ['consumer.ts', 'readme/*.ts'],
  };
}

async function installedVersion(name: string): Promise<string> {
  return JSON.parse(await readFile(join(CORE, 'node_modules', name, 'package.json'), 'utf8')).version;
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) files.push(...(await listFiles(join(dir, entry.name), `${prefix}${entry.name}/`)));
    else files.push(`${prefix}${entry.name}`);
  }
  return files.sort();
}

/** README examples: TypeScript as written for tsc, and with the types stripped for the runtimes. */
async function writeExamples(): Promise<void> {
  const esbuild = loadEsbuild();
  const dir = join(project, 'readme');
  await mkdir(dir);
  for (const example of examples) {
    const name = exampleBaseName(example);
    if (example.lang === 'ts') await writeFile(join(dir, `${name}.ts`), example.code);
    const js =
      example.lang === 'ts'
        ? (await esbuild.transform(example.code, { loader: 'ts', format: 'esm', target: 'es2022' })).code
        : example.code;
    // `// file:` modules are imported as ./NAME.js; the others are entry points.
    await writeFile(join(dir, example.file ? `${name}.js` : `${name}.mjs`), js);
  }
}

beforeAll(async () => {
  temp = await mkdtemp(join(tmpdir(), 'kube-audit-core-'));
  const packDir = join(temp, 'pack');
  // pnpm, not npm: pnpm applies publishConfig (the dist exports) and runs prepack (the build).
  const pack = await run('pnpm', ['pack', '--pack-destination', packDir], { cwd: CORE, timeoutMs: 120_000 });
  if (pack.code !== 0) throw new Error(`pnpm pack failed (${pack.code}):\n${pack.stdout}\n${pack.stderr}`);
  const tarballs = (await readdir(packDir)).filter((file) => file.endsWith('.tgz'));
  expect(tarballs).toHaveLength(1);
  const tarball = join(packDir, tarballs[0] as string);
  tarballBytes = (await stat(tarball)).size;

  project = join(temp, 'project');
  await mkdir(project);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // zod and yaml at the workspace's versions, so that what the README prints cannot change with
  // a new release of either.
  const pinned = await Promise.all(['zod', 'yaml'].map(async (name) => `${name}@${await installedVersion(name)}`));
  const npm = await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', tarball, ...pinned],
    { cwd: project, timeoutMs: 150_000 },
  );
  if (npm.code !== 0) {
    throw new Error(
      `npm install of the packed tarball failed (${npm.code}). It fetches ${pinned.join(' and ')} from the npm ` +
        `registry: is the registry reachable from here?\n${npm.stderr.slice(-3000)}`,
    );
  }
  installed = join(project, 'node_modules/@kube-audit/core');
  await writeFile(join(project, 'scenario.mjs'), scenarioScript);
  await writeFile(join(project, 'consumer.ts'), consumerTs);
  await writeFile(join(project, 'tsconfig.node16.json'), JSON.stringify(tsconfig('node16', 'node16', false)));
  await writeFile(join(project, 'tsconfig.bundler.json'), JSON.stringify(tsconfig('esnext', 'bundler', true)));
  await writeExamples();
}, 300_000);

afterAll(async () => {
  if (temp) await rm(temp, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('holds the build, the license, the README and the CHANGELOG, and nothing else', async () => {
    expect(await listFiles(installed)).toEqual([
      'CHANGELOG.md',
      'LICENSE',
      'README.md',
      'dist/index.d.ts',
      'dist/index.js',
      'package.json',
    ]);
    expect(tarballBytes).toBeLessThan(100_000);
  });

  it('points its exports at dist, while the workspace keeps src', async () => {
    const packed = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'));
    const workspace = JSON.parse(await readFile(join(CORE, 'package.json'), 'utf8'));
    expect(workspace.exports['.']).toBe('./src/index.ts');
    expect(packed.exports).toEqual({
      '.': { types: './dist/index.d.ts', default: './dist/index.js' },
      './package.json': './package.json',
    });
    expect(packed).toMatchObject({
      name: '@kube-audit/core',
      version: workspace.version,
      type: 'module',
      sideEffects: false,
      types: './dist/index.d.ts',
      license: 'Apache-2.0',
      engines: { node: '>=20' },
      peerDependencies: { zod: workspace.peerDependencies.zod },
      dependencies: { yaml: workspace.dependencies.yaml },
    });
    expect(packed.dependencies).not.toHaveProperty('zod');
    expect(JSON.stringify(packed)).not.toMatch(/workspace:|src\/index/);
  });
});

describe('importing the installed package', () => {
  it(`works on Node ${process.versions.node}`, async () => {
    const ran = await run(process.execPath, ['scenario.mjs'], { cwd: project });
    expect(ran.stderr).toBe('');
    expect(JSON.parse(ran.stdout)).toEqual(expected);
  });

  it.skipIf(!node24)(
    node24 ? 'works on Node 24' : 'works on Node 24 (skipped: set NODE24 to a Node 24 binary, see support/tools.ts)',
    async () => {
      const version = await run(node24 as string, ['--version'], { cwd: project });
      expect(version.stdout).toMatch(/^v24\./);
      const ran = await run(node24 as string, ['scenario.mjs'], { cwd: project });
      expect(ran.stderr).toBe('');
      expect(JSON.parse(ran.stdout)).toEqual(expected);
    },
  );

  it.skipIf(!bun && !inCI)(
    bun || inCI ? 'works on Bun' : 'works on Bun (skipped: set BUN or put bun on PATH)',
    async () => {
      if (!bun) throw new Error('Bun is required in CI: set $BUN or put bun on PATH');
      const ran = await run(bun, ['scenario.mjs'], { cwd: project });
      expect(ran.stderr).toBe('');
      expect(JSON.parse(ran.stdout)).toEqual(expected);
    },
  );

  it('works without Node APIs: no process, Buffer or require, no node: imports', async () => {
    const dist = await readFile(join(installed, 'dist/index.js'), 'utf8');
    expect(dist).not.toMatch(/\bfrom\s*["']node:|\bimport\s*\(\s*["']node:|\brequire\s*\(/);
    // One file with zod and yaml inside, resolved as a runtime that is neither Node nor a browser would.
    const bundle = await loadEsbuild().build({
      entryPoints: [join(installed, 'dist/index.js')],
      absWorkingDir: project,
      bundle: true,
      write: false,
      format: 'iife',
      globalName: 'core',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      target: 'es2022',
      logLevel: 'silent',
    });
    const context = vm.createContext({});
    vm.runInContext(bundle.outputFiles?.[0]?.text as string, context, { filename: 'kube-audit-core.bundle.js' });
    expect(vm.runInContext('[typeof process, typeof Buffer, typeof require].join()', context)).toBe(
      'undefined,undefined,undefined',
    );
    // Bare ECMAScript: no TextEncoder either, so UTF-8 is encoded and decoded in plain code; a retry is still dropped whole.
    expect(vm.runInContext('typeof TextEncoder', context)).toBe('undefined');
    const out = vm.runInContext(`(${scenario.toString()})(core)`, context) as string;
    expect(JSON.parse(out)).toEqual(expected);
    expect(expected.retry[0]).toBe(0);
    expect(expected.retry[1].duplicate).toBe(expected.counts[1]);
  });
});

describe('type-checking a consumer against the published declarations', () => {
  for (const resolution of ['node16', 'bundler']) {
    it(`passes with moduleResolution ${resolution}, README examples included`, async () => {
      const ran = await run(process.execPath, [tscPath(), '-p', `tsconfig.${resolution}.json`], { cwd: project });
      expect(ran.stdout + ran.stderr).toBe('');
      expect(ran.code).toBe(0);
    });
  }
});

const runtimes: [name: string, command: string][] = [[`Node ${process.versions.node}`, process.execPath]];
if (node24) runtimes.push(['Node 24', node24]);
if (bun) runtimes.push(['Bun', bun]);

describe.concurrent.each(runtimes)('README examples on %s', (_name, command) => {
  it('are there', () => {
    expect(examples.filter((example) => !example.file).length).toBeGreaterThanOrEqual(5);
  });
  const entries = examples.filter((example): example is Example => !example.file);
  for (const example of entries) {
    it(`README.md:${example.line} prints what the README shows`, async () => {
      const ran = await run(command, [`${exampleBaseName(example)}.mjs`], { cwd: join(project, 'readme') });
      expect({ code: ran.code, stdout: ran.stdout, stderr: ran.stderr }).toEqual({
        code: 0,
        stdout: example.expected,
        stderr: '',
      });
    });
  }
});

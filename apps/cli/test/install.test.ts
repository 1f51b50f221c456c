/**
 * @kube-audit/cli as people install it, outside the workspace: `npm pack`, then `npm i <tarball>`
 * into an empty project and its bins run from there; `kubectl audit …` through the installed
 * kubectl with that bin directory on PATH; and the standalone executable (`bun build --compile`),
 * run from an empty directory with no Node on PATH, directly and as krew installs it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { findBun } from '../../../test/support/receiver';
import { CLI_DIR, REAL, runCli } from './support/cli';

const { version } = JSON.parse(readFileSync(`${CLI_DIR}package.json`, 'utf8')) as { version: string };
const FIXTURE = `${REAL}mixed/elastic-test-audit.log`;

/** Run a program to completion with exactly this environment. */
function run(command: string, args: readonly string[], options: { cwd: string; env: Record<string, string> }) {
  const result = spawnSync(command, args, { ...options, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, error: result.error };
}

/** Where a program is on this machine's PATH, or undefined. */
function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

let tmp: string;
let expectedStats: string;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'kube-audit-install-'));
  expectedStats = (await runCli(['stats', FIXTURE])).stdout;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('npm: the packed package installed outside the workspace', () => {
  let bin: string;
  beforeAll(() => {
    // npm pack runs the prepack script (the bundle) and packs what "files" lists.
    execFileSync('npm', ['pack', '--pack-destination', tmp], { cwd: CLI_DIR, stdio: 'pipe' });
    const tarball = join(tmp, `kube-audit-cli-${version}.tgz`);
    const project = join(tmp, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), '{"name":"consumer","private":true}\n');
    // The package has no dependencies (the bundle holds the core, zod and yaml): nothing to fetch.
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: project, stdio: 'pipe' });
    bin = join(project, 'node_modules', '.bin');
  });

  it('is publishable, with both bins, and ships only the bundle, the licence and the README', () => {
    const manifest = JSON.parse(readFileSync(`${CLI_DIR}package.json`, 'utf8'));
    expect(manifest.private).toBeUndefined();
    expect(manifest.dependencies).toBeUndefined();
    const installed = join(dirname(bin), '@kube-audit', 'cli');
    expect(readdirSync(installed).sort()).toEqual(['LICENSE', 'README.md', 'dist', 'package.json']);
    expect(readdirSync(bin).sort()).toEqual(['kube-audit', 'kubectl-audit']);
  });

  it('runs kube-audit from the project, with only Node on PATH', () => {
    const env = { PATH: dirname(process.execPath) };
    expect(run(join(bin, 'kube-audit'), ['--version'], { cwd: tmp, env }).stdout).toBe(`kube-audit ${version}\n`);
    const stats = run(join(bin, 'kube-audit'), ['stats', FIXTURE], { cwd: tmp, env });
    expect(stats).toMatchObject({ code: 0, stderr: '', stdout: expectedStats });
  });

  const kubectl = which('kubectl');
  it.skipIf(!kubectl)(
    'is a kubectl plugin: `kubectl audit stats` with the bin directory on PATH (skipped without kubectl)',
    () => {
      const env = { PATH: [bin, dirname(process.execPath), dirname(kubectl as string), '/usr/bin', '/bin'].join(':') };
      const plugins = run(kubectl as string, ['plugin', 'list'], { cwd: tmp, env });
      expect(plugins.stdout).toContain(join(bin, 'kubectl-audit'));
      const stats = run(kubectl as string, ['audit', 'stats', FIXTURE], { cwd: tmp, env });
      expect(stats).toMatchObject({ code: 0, stderr: '', stdout: expectedStats });
      // kubectl passes the exit code on: a usage error is 2.
      expect(run(kubectl as string, ['audit', 'stats', '--top', 'x', FIXTURE], { cwd: tmp, env }).code).toBe(2);
    },
  );
});

// The standalone build needs Bun ($BUN, or `bun` on PATH, as for the receiver's Bun tests; CI installs it).
const bun = findBun();
describe.skipIf(!bun)('standalone executable (bun build --compile; skipped: Bun is not installed)', () => {
  const standalone = join(CLI_DIR, 'dist', 'standalone');
  let empty: string;
  beforeAll(() => {
    execFileSync(process.execPath, ['scripts/standalone.mjs'], {
      cwd: CLI_DIR,
      env: { ...process.env, BUN: bun as string },
      stdio: 'pipe',
    });
    empty = join(tmp, 'empty');
    mkdirSync(empty);
  }, 300_000);

  it('runs from an empty directory with no Node on PATH', () => {
    const binary = join(standalone, 'kube-audit-linux-x64');
    const env = { PATH: empty };
    expect(run(binary, ['--version'], { cwd: empty, env }).stdout).toBe(`kube-audit ${version}\n`);
    expect(run(binary, ['stats', FIXTURE], { cwd: empty, env })).toMatchObject({
      code: 0,
      stderr: '',
      stdout: expectedStats,
    });
    // gzip, through the runtime the binary embeds.
    const gz = run(binary, ['process', `${REAL}eks/subscription-payload.json.gz`], { cwd: empty, env });
    expect(JSON.parse(gz.stdout).annotations['kube-audit/cluster']).toBe('eksworkshop-eksctl');
    expect(readdirSync(empty)).toEqual([]);
  });

  it('installs as krew does: the manifest filled from the archive, its bin run as `kubectl audit`', () => {
    const manifestText = execFileSync(
      process.execPath,
      [
        'scripts/krew-manifest.mjs',
        '--base-url',
        'https://example.com/releases/v1/',
        '--homepage',
        'https://example.com',
      ],
      { cwd: CLI_DIR, encoding: 'utf8' },
    );
    const archive = join(standalone, 'kubectl-audit-linux-x64.tar.gz');
    const manifest = parseYaml(manifestText);
    expect(manifest).toMatchObject({
      apiVersion: 'krew.googlecontainertools.github.com/v1alpha2',
      kind: 'Plugin',
      metadata: { name: 'audit' },
      spec: {
        version: `v${version}`,
        homepage: 'https://example.com',
        platforms: [
          {
            selector: { matchLabels: { os: 'linux', arch: 'amd64' } },
            uri: 'https://example.com/releases/v1/kubectl-audit-linux-x64.tar.gz',
            sha256: createHash('sha256').update(readFileSync(archive)).digest('hex'),
            bin: 'kubectl-audit',
          },
        ],
      },
    });
    // krew unpacks the archive and links `bin` into its bin directory, which is on PATH.
    const plugin = join(tmp, 'krew-plugin');
    mkdirSync(plugin);
    execFileSync('tar', ['-xzf', archive, '-C', plugin]);
    expect(readdirSync(plugin).sort()).toEqual(['LICENSE', 'kubectl-audit']);
    const kubectl = which('kubectl');
    if (!kubectl) return;
    const env = { PATH: [plugin, dirname(kubectl)].join(':') };
    expect(run(kubectl, ['audit', 'stats', FIXTURE], { cwd: empty, env })).toMatchObject({
      code: 0,
      stdout: expectedStats,
    });
  });
});

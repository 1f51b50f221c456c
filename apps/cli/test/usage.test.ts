/**
 * The CLI's contract for people and scripts: help with examples, and usage or configuration errors
 * that exit 2 with a message naming the bad flag or file.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PIPELINE_SETTINGS, type Setting } from '@kube-audit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { linesOf, REAL, runCli } from './support/cli';

const DEMO = `${REAL}audit2rbac/demo.log`;
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'kube-audit-usage-'));
});

/**
 * The built-in modules Node loaded for `kube-audit ARGS…` (Node's own list, printed at exit by a
 * preloaded script), to check that a command starts with only what it needs.
 */
async function modulesLoaded(args: string[]): Promise<string[]> {
  const preload = join(tmp, 'modules.cjs');
  writeFileSync(
    preload,
    "process.on('exit', () => process.stderr.write('MODULES ' + JSON.stringify(process.moduleLoadList) + '\\n'));\n",
  );
  const run = await runCli(args, { env: { NODE_OPTIONS: `--require ${preload}` } });
  expect(run.code).toBe(0);
  const line = run.stderr.split('\n').find((l) => l.startsWith('MODULES '));
  return JSON.parse(line?.slice('MODULES '.length) ?? '[]') as string[];
}

describe('start-up', () => {
  it('loads the HTTP client only for replay', async () => {
    const http = (modules: string[]) => modules.filter((m) => /^NativeModule (https?|_http_client)$/.test(m));
    expect(http(await modulesLoaded(['--help']))).toEqual([]);
    expect(http(await modulesLoaded(['process', DEMO]))).toEqual([]);
    expect(http(await modulesLoaded(['stats', DEMO]))).toEqual([]);
    expect(http(await modulesLoaded(['replay', '--help']))).toEqual(
      expect.arrayContaining(['NativeModule http', 'NativeModule https']),
    );
  });

  it('keeps the young generation small while a command streams', async () => {
    // About 6 MB of log: enough for V8 to grow the young generation to 16 MiB if let.
    const log = join(tmp, 'big.log');
    writeFileSync(log, readFileSync(DEMO, 'utf8').repeat(300));
    const preload = join(tmp, 'new-space.cjs');
    writeFileSync(
      preload,
      "process.on('exit', () => process.stderr.write('NEW SPACE ' + require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size + '\\n'));\n",
    );
    const run = await runCli(['process', '--no-dedupe', log], { env: { NODE_OPTIONS: `--require ${preload}` } });
    expect(run.code).toBe(0);
    expect(linesOf(run.stdout)).toHaveLength(37 * 300);
    const size = Number(/NEW SPACE (\d+)/.exec(run.stderr)?.[1]);
    // What it had grown to when the command started: 1 to 4 MiB, by Node version.
    expect(size).toBeGreaterThan(0);
    expect(size).toBeLessThanOrEqual(4 * 2 ** 20);
  });

  it('loads zlib only for gzip input', async () => {
    const zlib = (modules: string[]) => modules.includes('NativeModule zlib');
    expect(zlib(await modulesLoaded(['--help']))).toBe(false);
    expect(zlib(await modulesLoaded(['process', DEMO]))).toBe(false);
    const gz = join(tmp, 'demo.bin');
    writeFileSync(gz, gzipSync(readFileSync(DEMO)));
    expect(zlib(await modulesLoaded(['process', gz]))).toBe(true);
  });
});

describe('kube-audit help', () => {
  it.each([[['--help']], [['-h']], [['help']]])('%j prints the tool help with an example and exits 0', async (args) => {
    const run = await runCli(args);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: kube-audit <command>/);
    for (const command of ['process', 'replay', 'stats']) expect(run.stdout).toContain(`  ${command} `);
    expect(run.stdout).toMatch(/Example:\n {2}kube-audit /);
  });

  it.each(['process', 'replay', 'stats'])(
    'kube-audit %s --help explains the command with an example',
    async (command) => {
      for (const args of [
        [command, '--help'],
        [command, '-h'],
        ['help', command],
        [command, '--bogus', '--help'],
      ]) {
        const run = await runCli(args);
        expect(run.code).toBe(0);
        expect(run.stdout).toMatch(new RegExp(`^Usage: kube-audit ${command} `));
        expect(run.stdout).toMatch(new RegExp(`Example:\\n {2}kube-audit ${command} `));
      }
    },
  );

  it("lists each pipeline setting's flags in kube-audit process --help, with their help line", async () => {
    const run = await runCli(['process', '--help']);
    const flags = (PIPELINE_SETTINGS as readonly Setting[]).flatMap((setting) => setting.flags ?? []);
    expect(flags.length).toBeGreaterThan(0);
    for (const flag of flags) {
      const usage = `--${flag.name}${flag.arg ? ` ${flag.arg}` : ''}`;
      const line = run.stdout.split('\n').find((l) => l.startsWith(`  ${usage} `));
      expect(line?.slice(usage.length + 2).trim(), usage).toBe(flag.help);
    }
  });

  it('prints the version', async () => {
    const run = await runCli(['--version']);
    expect(run).toMatchObject({ code: 0, stdout: expect.stringMatching(/^kube-audit \d+\.\d+\.\d+\n$/) });
  });

  it('without a command, prints the help to stderr and exits 2', async () => {
    const run = await runCli([]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^Usage: kube-audit/);
  });
});

describe('kube-audit usage errors', () => {
  const url = ['--url', 'http://127.0.0.1:9'];
  const cases: [args: string[], message: string][] = [
    [['frobnicate'], 'unknown command "frobnicate" (commands: process, replay, stats; see kube-audit --help)'],
    [['process', '--bogus', DEMO], 'unknown flag --bogus'],
    [['process', '--policy'], '--policy: missing value'],
    [['process', '--policy', '--strict', DEMO], '--policy: missing value'],
    [['process', '--strict=yes', DEMO], '--strict: takes no value'],
    [['process', '--max-event-bytes', '-5', DEMO], '--max-event-bytes: missing value'],
    [
      ['process', '--max-event-bytes', '1k', DEMO],
      '--max-event-bytes: must be 0 or a whole number from 512 to 1073741824 (got "1k")',
    ],
    [
      ['process', '--max-event-bytes', '100', DEMO],
      '--max-event-bytes: must be 0 or a whole number from 512 to 1073741824 (got "100")',
    ],
    [
      ['process', '--dedupe-cache-size', '10', '--no-dedupe', DEMO],
      '--no-dedupe and --dedupe-cache-size exclude each other',
    ],
    [['process', '--cluster', '', DEMO], '--cluster: missing name'],
    [['process', '--policy', 'no-such-policy.yaml', DEMO], '--policy: cannot read no-such-policy.yaml: no such file'],
    [['process', 'no-such.log'], 'cannot read no-such.log: no such file'],
    [['process', REAL], `cannot read ${REAL}: is a directory`],
    [['process', '-', '-'], '- (stdin) can be read only once'],
    [['stats', '--top', '0', DEMO], '--top: must be a whole number ≥ 1 (got "0")'],
    [['replay', DEMO], '--url is required (the receiver to send the events to)'],
    [['replay', '--url', 'ftp://example', DEMO], '--url: must be an http:// or https:// URL (got "ftp://example")'],
    [['replay', '--url', 'not a url', DEMO], '--url: not a URL (got "not a url")'],
    [['replay', ...url, '--batch-size', 'x', DEMO], '--batch-size: must be a whole number ≥ 1 (got "x")'],
    [['replay', ...url, '--batch-size', '0', DEMO], '--batch-size: must be a whole number ≥ 1 (got "0")'],
    [['replay', ...url, '--qps', 'fast', DEMO], '--qps: must be a number ≥ 0 (got "fast")'],
    [
      ['replay', ...url, '--initial-backoff', '10', DEMO],
      '--initial-backoff: must be a duration such as 10s, 500ms or 1m30s (got "10")',
    ],
    [
      ['replay', ...url, '--timeout', '0s', DEMO],
      '--timeout: must be a duration above 0 such as 10s, 500ms or 1m30s (got "0s")',
    ],
    [['replay', ...url, '--cert', 'c.pem', DEMO], '--cert and --key go together'],
    [
      ['replay', ...url, '--ca', 'ca.pem', DEMO],
      '--ca, --cert, --key and --insecure-skip-tls-verify need an https:// --url',
    ],
    [
      ['replay', '--url', 'https://127.0.0.1:9', '--ca', 'no-ca.pem', DEMO],
      '--ca: cannot read no-ca.pem: no such file',
    ],
    [['replay', ...url, '--token-file', 'no-token', DEMO], '--token-file: cannot read no-token: no such file'],
  ];

  it.each(cases)('%j exits 2: %s', async (args, message) => {
    const run = await runCli(args);
    expect(run.stderr).toBe(`kube-audit: ${message}\n`);
    expect(run.stdout).toBe('');
    expect(run.code).toBe(2);
  });

  it('names the policy file and the bad field of an invalid policy', async () => {
    const policy = join(tmp, 'bad-policy.yaml');
    writeFileSync(policy, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Everything\n');
    const run = await runCli(['process', '--policy', policy, DEMO]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^kube-audit: --policy: ${policy}: rules\\[0\\]\\.level: `));
    expect(run.stdout).toBe('');
  });

  it('refuses a corrupt gzip file, naming it', async () => {
    const gz = join(tmp, 'broken.gz');
    writeFileSync(gz, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]));
    const run = await runCli(['process', gz]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^kube-audit: cannot read ${gz}: `));
  });

  it('reports an empty token file', async () => {
    const token = join(tmp, 'empty-token');
    writeFileSync(token, '\n');
    const run = await runCli(['replay', '--url', 'http://127.0.0.1:9', '--token-file', token, DEMO]);
    expect(run).toMatchObject({ code: 2, stderr: `kube-audit: --token-file: ${token} is empty\n` });
  });
});

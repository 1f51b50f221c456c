/**
 * `kube-audit process` as a real process over the real fixtures, compared line for line with the
 * real receiver given the same events as webhook batches and the same settings.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asWebhookBody, FIXTURES, MALFORMED, realFixtureFiles } from '../../../test/support/fixtures';
import { postAudit, startReceiver } from '../../../test/support/receiver';
import { CLI, linesOf, REAL, REPO, runCli } from './support/cli';

const POLICY = `${REAL}policies/falco-k8saudit-audit-policy.yaml`;
const files = realFixtureFiles();
const paths = files.map((file) => `${REAL}${file.name}`);
const totalEvents = files.reduce((sum, file) => sum + file.events.length, 0);
const DEMO = `${REAL}audit2rbac/demo.log`;
const demoText = readFileSync(DEMO, 'utf8');

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'kube-audit-process-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Line = Record<string, unknown> & { annotations?: Record<string, string> };
const parse = (text: string): Line[] => linesOf(text).map((line) => JSON.parse(line) as Line);

/** The files' events posted to a fresh receiver, in order, as webhook batches; its stdout lines. */
async function throughReceiver(env: Record<string, string>): Promise<Line[]> {
  const receiver = await startReceiver({ env });
  try {
    let written = 0;
    for (const file of files) {
      // A log file's lines carry kind/apiVersion; a webhook list carries the apiVersion once.
      // Events without one are audit.k8s.io/v1 on both sides.
      for (const group of byApiVersion(file.events)) {
        const response = await postAudit(`${receiver.url}/audit`, asWebhookBody(group.events, group.apiVersion));
        expect(response.status).toBe(200);
        written += ((await response.json()) as { written: number }).written;
      }
    }
    await receiver.waitFor(() => receiver.lines.length === written);
    return receiver.lines.map((line) => JSON.parse(line) as Line);
  } finally {
    await receiver.stop();
  }
}

function byApiVersion(events: Record<string, unknown>[]) {
  const groups: { apiVersion: string; events: Record<string, unknown>[] }[] = [];
  for (const event of events) {
    const apiVersion = (event.apiVersion as string | undefined) ?? 'audit.k8s.io/v1';
    const last = groups.at(-1);
    if (last?.apiVersion === apiVersion) last.events.push(event);
    else groups.push({ apiVersion, events: [event] });
  }
  return groups;
}

describe('kube-audit process', () => {
  const settings: { name: string; flags: string[]; env: Record<string, string>; check: (lines: Line[]) => void }[] = [
    {
      name: 'default settings (redaction and dedupe on)',
      flags: [],
      env: {},
      // demo.v1beta1-2017.log repeats demo.log's events as audit.k8s.io/v1beta1: other bytes, so
      // not a re-send, and both are written (the dedupe test below drops a true re-send).
      check: (lines) => expect(lines.length).toBe(totalEvents),
    },
    {
      name: 'a policy, a cluster name, exec commands masked and no dedupe',
      flags: ['--policy', POLICY, '--cluster', 'prod-eu', '--redact-exec-commands', '--no-dedupe'],
      env: {
        AUDIT_POLICY_FILE: POLICY,
        CLUSTER_NAME: 'prod-eu',
        REDACT_EXEC_COMMANDS: 'true',
        DEDUPE_CACHE_SIZE: '0',
      },
      check: (lines) => {
        expect(lines.length).toBeGreaterThan(0);
        expect(lines.length).toBeLessThan(totalEvents);
        for (const line of lines) expect(line.annotations?.['kube-audit/cluster']).toBe('prod-eu');
      },
    },
    {
      name: 'no redaction and a small line cap',
      flags: ['--no-redact', '--max-event-bytes', '1500'],
      env: { REDACT: 'off', MAX_EVENT_BYTES: '1500' },
      check: (lines) =>
        expect(lines.some((line) => line.annotations?.['audit.k8s.io/truncated'] === 'true')).toBe(true),
    },
  ];

  it.each(settings)('writes what the receiver writes for the real fixtures: $name', async ({ flags, env, check }) => {
    const cli = await runCli(['process', ...flags, ...paths]);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const lines = parse(cli.stdout);
    expect(lines).toEqual(await throughReceiver(env));
    for (const line of lines) expect(Object.keys(line).slice(0, 2)).toEqual(['kind', 'apiVersion']);
    check(lines);
  });

  it("reports Falco's malformed fixture as invalid input, by file and line", async () => {
    const path = `${REAL}${MALFORMED}`;
    const run = await runCli(['process', path]);
    expect(run).toEqual({ code: 0, stdout: '', stderr: `${path}:1: kind must be a string\n` });
    expect((await runCli(['process', '--strict', path])).code).toBe(1);
  });

  it('reads gzip by its content, whatever the file is called', async () => {
    const gz = join(tmp, 'demo.bin');
    writeFileSync(gz, gzipSync(demoText));
    const [plain, zipped] = await Promise.all([runCli(['process', DEMO]), runCli(['process', gz])]);
    expect(zipped.code).toBe(0);
    expect(zipped.stdout).toBe(plain.stdout);
    expect(linesOf(zipped.stdout)).toHaveLength(37);
  });

  it('reads stdin when no file or - is given, plain or gzip', async () => {
    const expected = (await runCli(['process', DEMO])).stdout;
    expect((await runCli(['process'], { input: demoText })).stdout).toBe(expected);
    expect((await runCli(['process', '-'], { input: demoText })).stdout).toBe(expected);
    expect((await runCli(['process', '-'], { input: gzipSync(demoText) })).stdout).toBe(expected);
  });

  it('reports invalid lines as FILE:LINE: reason without their content, and writes the rest', async () => {
    const [first, second] = linesOf(demoText);
    const path = join(tmp, 'mixed.log');
    writeFileSync(
      path,
      [
        first,
        '',
        '{"auditID":"a1","stage":"ResponseComplete","level":"Metadata","verb":"get","requestObject":{"password":"hunter2"}}',
        'hunter2 is not json',
        '{"kind":"Event","auditID":"a2","level":',
        second,
      ].join('\n'),
    );
    const run = await runCli(['process', path]);
    expect(run.code).toBe(0);
    expect(linesOf(run.stdout)).toHaveLength(2);
    expect(run.stderr).not.toContain('hunter2');
    expect(linesOf(run.stderr)).toEqual([
      `${path}:3: invalid audit event: missing requestURI`,
      expect.stringMatching(new RegExp(`^${path}:4: not valid JSON: `)),
      expect.stringMatching(new RegExp(`^${path}:5: not valid JSON: `)),
    ]);
  });

  it('takes CRLF line endings, a whole EventList on one line, and refuses two events on one line', async () => {
    const [first, second, third] = linesOf(demoText) as [string, string, string];
    const strip = (line: string) => {
      const { kind: _kind, apiVersion: _apiVersion, ...item } = JSON.parse(line);
      return item;
    };
    const list = JSON.stringify({
      kind: 'EventList',
      apiVersion: 'audit.k8s.io/v1',
      items: [strip(second), strip(third)],
    });
    const path = join(tmp, 'crlf.log');
    writeFileSync(path, [first, list, `${first},${second}`].join('\r\n'));
    const run = await runCli(['process', '--no-dedupe', path]);
    expect(parse(run.stdout)).toEqual([first, second, third].map((line) => JSON.parse(line)));
    expect(run.stderr).toMatch(
      new RegExp(`^${path}:3: not valid JSON: unexpected data after the JSON value at position ${first.length}\n$`),
    );
  });

  it('reads lines longer than one read, with multi-byte characters on the read boundaries', async () => {
    // Files are read 64 KiB at a time: lines of every length around that, made of 3-byte
    // characters so that reads end inside characters, must come out whole and unchanged.
    const [first] = linesOf(demoText) as [string];
    const base = JSON.parse(first) as Line;
    const lines = [1, 21_000, 21_845, 21_846, 50_000, 140_000].map((n, i) =>
      JSON.stringify({
        ...base,
        auditID: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        userAgent: '€'.repeat(n),
      }),
    );
    const path = join(tmp, 'long-lines.log');
    writeFileSync(path, `${lines.join('\n')}\n`);
    const run = await runCli(['process', '--max-event-bytes', '0', path]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const out = linesOf(run.stdout);
    expect(out.map((line) => line.length)).toEqual(lines.map((line) => line.length));
    expect(out.every((line, i) => line === lines[i])).toBe(true);
  });

  it('drops a line repeated byte for byte, but never an event that only reuses its auditID', async () => {
    // The attack: kube-apiserver takes a client's Audit-ID header as the auditID (withAuditInit,
    // k8s.io/apiserver pkg/endpoints/filters/audit_init.go), so a harmless request and then
    // `kubectl get secret admin-token` can share one auditID and stage.
    const [first] = linesOf(demoText) as [string];
    const harmless = JSON.parse(first) as Line;
    const secretRead = {
      ...harmless,
      requestURI: '/api/v1/namespaces/kube-system/secrets/admin-token',
      verb: 'get',
      objectRef: { resource: 'secrets', namespace: 'kube-system', name: 'admin-token', apiVersion: 'v1' },
    };
    const path = join(tmp, 'same-audit-id.log');
    writeFileSync(path, [first, JSON.stringify(secretRead), first, ''].join('\n'));
    const run = await runCli(['process', '--summary', path]);
    expect(run.code).toBe(0);
    expect(parse(run.stdout).map((line) => line.requestURI)).toEqual([
      harmless.requestURI,
      '/api/v1/namespaces/kube-system/secrets/admin-token',
    ]);
    expect(run.stderr).toMatch(/ and 1 duplicate, /);
  });

  it('exits 1 under --strict when any input is invalid, after writing the valid events', async () => {
    const path = join(tmp, 'strict.log');
    writeFileSync(path, `${demoText}{"auditID":1}\n`);
    const run = await runCli(['process', '--strict', path]);
    expect(run.code).toBe(1);
    expect(linesOf(run.stdout)).toHaveLength(37);
    expect(run.stderr).toBe(`${path}:38: invalid audit event: auditID must be a string\n`);
  });

  it('drops the events a policy file does not record, and says how many in the summary', async () => {
    const run = await runCli(['process', '--summary', '--no-dedupe', '--policy', POLICY, ...paths]);
    expect(run.code).toBe(0);
    const written = linesOf(run.stdout).length;
    const dropped = Number(/dropped (\d+) by policy/.exec(run.stderr)?.[1]);
    expect(dropped).toBeGreaterThan(0);
    expect(written + dropped).toBe(totalEvents);
    expect(run.stderr).toContain(`read ${totalEvents} events (0 invalid), wrote ${written} lines`);
  });

  it('adds the cluster annotation with --cluster, keeping the events’ own annotations', async () => {
    const run = await runCli(['process', '--cluster', 'prod-eu', `${REAL}falco/create_secret.json`]);
    const [line] = parse(run.stdout);
    expect(line?.annotations).toEqual({
      ...(JSON.parse(readFileSync(`${REAL}falco/create_secret.json`, 'utf8').split('\n')[0] as string) as Line)
        .annotations,
      'kube-audit/cluster': 'prod-eu',
    });
  });

  it('reads whole JSON documents: an EventList, a pretty-printed one, and an array', async () => {
    const example = readFileSync(`${FIXTURES}examples/eventlist.json`, 'utf8');
    const items = (JSON.parse(example) as { items: Record<string, unknown>[] }).items;
    const pretty = join(tmp, 'pretty.json');
    writeFileSync(pretty, JSON.stringify(JSON.parse(example), null, 2));
    const array = join(tmp, 'array.json');
    writeFileSync(array, `[\n${linesOf(demoText).join(',\n')}\n]\n`);
    const one = await runCli(['process', `${FIXTURES}examples/eventlist.json`]);
    const two = await runCli(['process', pretty]);
    const three = await runCli(['process', array]);
    expect(parse(one.stdout).map((line) => line.auditID)).toEqual(items.map((item) => item.auditID));
    expect(parse(two.stdout)).toEqual(parse(one.stdout));
    expect(three.stdout).toBe((await runCli(['process', DEMO])).stdout);
  });

  it('names the item of a document that is not an event', async () => {
    const path = join(tmp, 'list.json');
    writeFileSync(path, JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [{}, 7] }, null, 1));
    const run = await runCli(['process', path]);
    expect(linesOf(run.stderr)).toEqual([`${path}: items[0]: missing auditID`, `${path}: items[1]: not an object`]);
  });

  it('exits quietly when its reader goes away (| head)', async () => {
    // Enough output to fill the pipe several times over.
    const input = Array.from({ length: 300 }, () => demoText).join('');
    const child = spawn(process.execPath, [CLI, 'process', '--no-dedupe'], { cwd: REPO });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

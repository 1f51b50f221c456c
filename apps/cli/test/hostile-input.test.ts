/**
 * The CLI against input made to hurt it, as a real process: terminal escapes in a log's values and
 * in file names are shown escaped, a bearer token is not sent over plain HTTP unless asked for,
 * and input without an end (`/dev/zero`, an endless document on stdin) stops with an error that
 * names the file and the position.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO, runCli } from './support/cli';
import { answer, startServer, type TestServer } from './support/server';

let tmp: string;
let server: TestServer | undefined;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'kube-audit-hostile-'));
});
afterEach(async () => {
  await server?.close();
  server = undefined;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Sets the terminal's title, rings the bell, an 8-bit CSI, and a right-to-left override. */
const ESCAPES = '\u001b]0;owned\u0007\u009b31m\u202e';
const SHOWN = '\\u001b]0;owned\\u0007\\u009b31m\\u202e';

/** Characters a terminal acts on: C0 (but newline), DEL, C1, bidi controls. */
const actsOnTerminal = (text: string) =>
  [...text].some((ch) => {
    const code = ch.charCodeAt(0);
    return (code < 0x20 && code !== 10) || (code >= 0x7f && code <= 0x9f) || (code >= 0x202a && code <= 0x202e);
  });

const event = (fields: Record<string, unknown> = {}) => ({
  kind: 'Event',
  apiVersion: 'audit.k8s.io/v1',
  level: 'Metadata',
  auditID: 'a1',
  stage: 'ResponseComplete',
  requestURI: '/api/v1/namespaces/default/pods',
  verb: 'list',
  user: { username: 'alice' },
  objectRef: { resource: 'pods', namespace: 'default', apiVersion: 'v1' },
  requestReceivedTimestamp: '2026-11-27T05:00:00.000000Z',
  stageTimestamp: '2026-11-27T05:00:00.001000Z',
  ...fields,
});

describe('terminal escapes from the log and the command line are shown escaped', () => {
  it('stats: a user name, a resource and a namespace', async () => {
    const log = join(tmp, 'escapes.log');
    writeFileSync(
      log,
      `${JSON.stringify(
        event({
          user: { username: `mallory${ESCAPES}` },
          objectRef: { resource: `pods${ESCAPES}`, namespace: `ns${ESCAPES}`, apiVersion: 'v1' },
        }),
      )}\n`,
    );
    const run = await runCli(['stats', log]);
    expect(run.code).toBe(0);
    expect(actsOnTerminal(run.stdout)).toBe(false);
    expect(run.stdout).toContain(`mallory${SHOWN}`);
    expect(run.stdout).toContain(`ns${SHOWN}`);
    // --json stays JSON: the same value, decoded by a JSON reader.
    const json = await runCli(['stats', '--json', log]);
    expect(JSON.parse(json.stdout).users).toEqual({ [`mallory${ESCAPES}`]: 1 });
  });

  it('replay: the auditID of a dropped batch', async () => {
    server = await startServer((_request, response) => answer(response, 500));
    const log = join(tmp, 'dropped.log');
    writeFileSync(log, `${JSON.stringify(event({ auditID: `id${ESCAPES}` }))}\n`);
    const run = await runCli(['replay', '--url', server.url, '--initial-backoff', '1ms', log]);
    expect(run.code).toBe(1);
    expect(actsOnTerminal(run.stderr)).toBe(false);
    expect(run.stderr).toContain(`(1 event from auditID id${SHOWN}) dropped after 5 attempts: HTTP 500\n`);
  });

  it('error messages and invalid-line messages: a file name', async () => {
    const missing = await runCli(['stats', join(tmp, `missing${ESCAPES}.log`)]);
    expect(missing.code).toBe(2);
    expect(actsOnTerminal(missing.stderr)).toBe(false);
    expect(missing.stderr).toContain(`missing${SHOWN}.log: no such file`);

    const named = join(tmp, `bad${ESCAPES}\n{"forged":1}.log`);
    writeFileSync(named, '{"kind":"Event"}\n');
    const invalid = await runCli(['process', named]);
    expect(invalid.code).toBe(0);
    expect(actsOnTerminal(invalid.stderr)).toBe(false);
    expect(invalid.stderr).toBe(`${tmp}/bad${SHOWN}\\n{"forged":1}.log:1: invalid audit event: missing auditID\n`);
  });
});

describe('replay --token-file over plain http://', () => {
  it('exits 2 and sends nothing, unless --allow-insecure-token', async () => {
    server = await startServer((_request, response) => answer(response, 200));
    const token = join(tmp, 'token');
    writeFileSync(token, 's3cret\n');
    const log = join(tmp, 'one.log');
    writeFileSync(log, `${JSON.stringify(event())}\n`);

    const refused = await runCli(['replay', '--url', server.url, '--token-file', token, log]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      'kube-audit: --token-file over http:// would send the token in clear: use an https:// --url, ' +
        'or add --allow-insecure-token to send it anyway\n',
    );
    expect(server.requests).toHaveLength(0);

    const allowed = await runCli(['replay', '--url', server.url, '--token-file', token, '--allow-insecure-token', log]);
    expect(allowed.code).toBe(0);
    expect(server.requests.map((request) => request.headers.authorization)).toEqual(['Bearer s3cret']);
  });
});

describe('input without an end', () => {
  it.skipIf(!existsSync('/dev/zero'))(
    '/dev/zero: stops past the longest line with the file and position',
    async () => {
      const run = await runCli(['stats', '/dev/zero']);
      expect(run.code).toBe(2);
      expect(run.stderr).toBe(
        'kube-audit: /dev/zero:1: line longer than 33554432 bytes (from byte 0), more than any audit event can be; stopped reading\n',
      );
    },
    60_000,
  );

  it('a long line after valid ones: stops at its line number and byte offset', async () => {
    const first = `${JSON.stringify(event())}\n`;
    const log = join(tmp, 'long-line.log');
    writeFileSync(log, `${first}${first}${'x'.repeat(33 * 1024 * 1024)}\n${first}`);
    const run = await runCli(['process', '--no-dedupe', log]);
    expect(run.code).toBe(2);
    // The events before it are written.
    expect(run.stdout).toBe(`${first}${first}`);
    expect(run.stderr).toBe(
      `kube-audit: ${log}:3: line longer than 33554432 bytes (from byte ${2 * Buffer.byteLength(first)}), more than any audit event can be; stopped reading\n`,
    );
  }, 60_000);

  it('an endless pretty-printed document on stdin: stops with the line it reached', async () => {
    // An EventList (read whole, unlike an array of records, which streams item by item) whose
    // lines are all short and which never ends.
    const head = '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","pad":[';
    const child = spawn('sh', ['-c', `{ echo '${head}'; yes '0,'; } | "${process.execPath}" "${CLI}" stats`], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /^kube-audit: <stdin>:\d+: a JSON document longer than 134217728 characters, more than an audit log document can be; stopped reading\n$/,
    );
  }, 120_000);
});

describe('the bytes of a log line', () => {
  // Three events, and between them what a log can hold besides: CRLF endings, blank lines, lines
  // that are not UTF-8 (in a value, in a key, from the first byte, a character cut short), and
  // no newline at the end. The events come out byte for byte, the bad lines are named, never shown.
  const line = (auditID: string) => JSON.stringify(event({ auditID, userAgent: 'kubectl/v1.33 ☸ €' }));
  const [one, two, three] = [line('b1'), line('b2'), line('b3')];
  const bytes = Buffer.concat([
    Buffer.from(`${one}\r\n\n  \t\r\n`),
    Buffer.from(`${line('x1').replace('"verb":"', '"verb":"\xff')}\n`, 'latin1'),
    Buffer.from(`${line('x2').replace('"verb"', '"ve\xc3rb"')}\n`, 'latin1'),
    Buffer.from(`\xff${line('x3')}\n`, 'latin1'),
    Buffer.from('\xe2\x82\n', 'latin1'),
    Buffer.from(`${two}\r\n${three}`),
  ]);
  const stderrOf = (name: string) => [4, 5, 6, 7].map((n) => `${name}:${n}: not valid UTF-8\n`).join('');

  it('from a file', async () => {
    const log = join(tmp, 'bytes.log');
    writeFileSync(log, bytes);
    const run = await runCli(['process', log]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${one}\n${two}\n${three}\n`);
    expect(run.stderr).toBe(stderrOf(log));
  });

  it('from stdin, a few bytes at a time, so that reads end inside lines and characters', async () => {
    const pieces: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 7) pieces.push(bytes.subarray(at, at + 7));
    const run = await runCli(['process'], { input: pieces });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${one}\n${two}\n${three}\n`);
    expect(run.stderr).toBe(stderrOf('<stdin>'));
  }, 30_000);

  it('a bad character on the boundary of two reads of a file', async () => {
    // Files are read 64 KiB at a time: the bad line's first byte is the last of the first read.
    const pad = line('p1');
    const filler = `${pad.slice(0, -1)},"pad":"${'x'.repeat(65_535 - Buffer.byteLength(pad) - 9 - 1)}"}\n`;
    expect(Buffer.byteLength(filler)).toBe(65_535);
    const log = join(tmp, 'boundary.log');
    writeFileSync(
      log,
      Buffer.concat([Buffer.from(filler), Buffer.from(`\xff\xfe${one}\n`, 'latin1'), Buffer.from(two)]),
    );
    const run = await runCli(['process', log]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${filler}${two}\n`);
    expect(run.stderr).toBe(`${log}:2: not valid UTF-8\n`);
  });

  it('a document (a pretty-printed EventList) with a line that is not UTF-8 is read, and the line named', async () => {
    const list = JSON.stringify(
      { kind: 'EventList', items: [event({ auditID: 'd1' }), event({ auditID: 'd2' })] },
      null,
      2,
    );
    const lines = list.split('\n');
    const bad = lines.findIndex((text) => text.includes('"d2"'));
    const file = join(tmp, 'document.json');
    writeFileSync(
      file,
      Buffer.concat(
        lines.map((text, i) => Buffer.from(`${i === bad ? text.replace('d2', 'd\xff2') : text}\n`, 'latin1')),
      ),
    );
    const run = await runCli(['process', '--strict', file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`${file}:${bad + 1}: not valid UTF-8 (read with U+FFFD in its place)\n`);
    const ids = run.stdout
      .trim()
      .split('\n')
      .map((text) => (JSON.parse(text) as { auditID: string }).auditID);
    expect(ids).toEqual(['d1', 'd\ufffd2']);
  });
});

describe('JSON lines read many at a time: each line still read and reported as alone', () => {
  // Many reads' worth of lines: events, invalid lines, records of a cloud export naming
  // clusters (runs of events of different clusters within one read), blank and CRLF lines, bad
  // UTF-8, and a last line cut short without a newline.
  const line = (auditID: string) => JSON.stringify(event({ auditID, userAgent: 'kubectl/v1.33 ☸ €' }));
  const eks = (auditID: string, cluster: string) =>
    JSON.stringify({
      messageType: 'DATA_MESSAGE',
      logGroup: `/aws/eks/${cluster}/cluster`,
      logEvents: [{ id: '1', timestamp: 1, message: line(auditID) }],
    });
  const input: Buffer[] = [];
  const stdout: string[] = [];
  const stderr: ((name: string) => string)[] = [];
  for (let n = 1; n <= 3000; n++) {
    const id = `e${n}`;
    if (n % 13 === 0) {
      input.push(Buffer.from(`${eks(id, `c${n % 3}`)}\n`));
      stdout.push(`${line(id).slice(0, -1)},"annotations":{"kube-audit/cluster":"c${n % 3}"}}`);
    } else if (n % 17 === 0) {
      input.push(Buffer.from(`${line(id).replace('"auditID"', '"auditId"')}\r\n`));
      stderr.push((name) => `${name}:${n}: invalid audit event: missing auditID\n`);
    } else if (n % 19 === 0) {
      input.push(Buffer.from(`${line(id).replace('☸', '\xff')}\n`, 'latin1'));
      stderr.push((name) => `${name}:${n}: not valid UTF-8\n`);
    } else if (n % 23 === 0) input.push(Buffer.from(n % 2 ? '\n' : ' \t\r\n'));
    else if (n % 29 === 0) {
      input.push(Buffer.from(`${line(id)}}\n`));
      stderr.push(
        (name) => `${name}:${n}: not valid JSON: unexpected data after the JSON value at position ${line(id).length}\n`,
      );
    } else {
      input.push(Buffer.from(`${line(id)}${n % 2 ? '\r' : ''}\n`));
      stdout.push(line(id));
    }
  }
  input.push(Buffer.from(line('cut').slice(0, 100)));
  const bytes = Buffer.concat(input);
  const expected = (name: string) => ({
    code: 1,
    stdout: `${stdout.join('\n')}\n`,
    stderr: `${stderr.map((of) => of(name)).join('')}${name}:3001: not valid JSON: unterminated string at position 100\n`,
  });

  it('from a file', async () => {
    expect(bytes.length).toBeGreaterThan(10 * 65_536);
    const log = join(tmp, 'many.log');
    writeFileSync(log, bytes);
    expect(await runCli(['process', '--strict', log])).toEqual(expected(log));
  });

  it('from stdin in pieces that end inside lines and characters', async () => {
    const pieces: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 40_009) pieces.push(bytes.subarray(at, at + 40_009));
    expect(await runCli(['process', '--strict'], { input: pieces })).toEqual(expected('<stdin>'));
  });

  it('a file that opens with more blank lines than a read holds, then events', async () => {
    const blank = Buffer.from('\n \r\n\t\n'.repeat(60_000));
    const log = join(tmp, 'blank-first.log');
    writeFileSync(log, Buffer.concat([blank, Buffer.from(`${line('b1')}\nnot json\n${line('b2')}\n`)]));
    const run = await runCli(['process', log]);
    expect(run.stdout).toBe(`${line('b1')}\n${line('b2')}\n`);
    expect(run.stderr).toBe(`${log}:180002: not valid JSON: unexpected character at position 0\n`);
  });

  it('a line longer than several reads, between others', async () => {
    const long = JSON.stringify(event({ auditID: 'long', annotations: { note: '☸'.repeat(400_000) } }));
    const log = join(tmp, 'long-line.log');
    writeFileSync(log, `${line('l1')}\n${long}\n${line('l2')}\nnot json\n`);
    const run = await runCli(['process', '--max-event-bytes', '0', log]);
    expect(run.stdout).toBe(`${line('l1')}\n${long}\n${line('l2')}\n`);
    expect(run.stderr).toBe(`${log}:4: not valid JSON: unexpected character at position 0\n`);
  });

  it.skipIf(process.platform === 'win32')('a FIFO named as a file, written in pieces with pauses', async () => {
    // Not a regular file: read without blocking, each read ending where the writer paused.
    const fifo = join(tmp, 'events.fifo');
    const [a, b] = [line('f1'), line('f2')];
    const writer = `printf '%s\\n%s' '${a}' '${b.slice(0, 50)}'; sleep 0.3; printf '%s\\nnot json\\n' '${b.slice(50)}'`;
    const child = spawn(
      'sh',
      ['-c', `mkfifo "$0" || exit 9; { ${writer}; } > "$0" & exec "${process.execPath}" "${CLI}" process "$0"`, fifo],
      {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    expect(await new Promise((resolve) => child.on('close', resolve))).toBe(0);
    expect(stdout).toBe(`${a}\n${b}\n`);
    expect(stderr).toBe(`${fifo}:3: not valid JSON: unexpected character at position 0\n`);
  });
});

/**
 * `kube-audit replay` as a real process: against the real receiver (every event arrives once, in
 * batches of the requested size), and against a scripted server for the request's shape and the
 * API server's retry rule (reference §2.2, §2.3).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { realFixtureFiles } from '../../../test/support/fixtures';
import { startReceiver } from '../../../test/support/receiver';
import { linesOf, REAL, runCli } from './support/cli';
import { answer, gaps, startServer, type TestServer } from './support/server';

const DEMO = `${REAL}audit2rbac/demo.log`;
const DEMO_V1BETA1 = `${REAL}audit2rbac/demo.v1beta1-2017.log`;
const demoEvents = linesOf(readFileSync(DEMO, 'utf8')).map((line) => JSON.parse(line) as Record<string, unknown>);

let tmp: string;
let server: TestServer | undefined;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'kube-audit-replay-'));
});
afterEach(async () => {
  await server?.close();
  server = undefined;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface EventList {
  kind: string;
  apiVersion: string;
  metadata: unknown;
  items: Record<string, unknown>[];
}
const listOf = (body: string) => JSON.parse(body) as EventList;

describe('kube-audit replay against the receiver', () => {
  it('delivers every event exactly once, in batches of the requested size, on the path given', async () => {
    const files = realFixtureFiles();
    const paths = files.map((file) => `${REAL}${file.name}`);
    const receiver = await startReceiver({ env: { DEDUPE_CACHE_SIZE: '0' } });
    try {
      const run = await runCli([
        'replay',
        '--url',
        `${receiver.url}/audit/replayed/?dropped=1`,
        '--batch-size',
        '10',
        ...paths,
      ]);
      expect(run.code).toBe(0);
      // Batches are cut at 10 events and where the apiVersion changes (events without one are v1).
      const sizes: number[] = [];
      let apiVersion = '';
      for (const event of files.flatMap((file) => file.events)) {
        const version = (event.apiVersion as string | undefined) ?? 'audit.k8s.io/v1';
        if (sizes.length === 0 || version !== apiVersion || (sizes.at(-1) as number) === 10) sizes.push(0);
        sizes[sizes.length - 1] = (sizes.at(-1) as number) + 1;
        apiVersion = version;
      }
      const total = sizes.reduce((a, b) => a + b, 0);
      expect(run.stderr).toContain(
        `delivered ${total} events in ${sizes.length} batches, dropped 0 batches (0 events), 0 retries`,
      );

      await receiver.waitFor(() => receiver.lines.length === total);
      const metrics = await (await fetch(`${receiver.url}/metrics`)).text();
      expect(metrics).toContain(`kube_audit_batch_events_count ${sizes.length}\n`);
      expect(metrics).toContain(`kube_audit_batch_events_sum ${total}\n`);
      expect(metrics).toContain(`kube_audit_requests_total{code="200"} ${sizes.length}\n`);
      // Every histogram bucket agrees with the batch sizes sent, whatever bounds the receiver uses.
      const buckets = [...metrics.matchAll(/^kube_audit_batch_events_bucket\{le="([^"]+)"\} (\d+)$/gm)];
      expect(buckets.length).toBeGreaterThan(1);
      for (const [, le, count] of buckets) {
        expect(Number(count)).toBe(sizes.filter((n) => n <= Number(le === '+Inf' ? Infinity : le)).length);
      }

      // The receiver wrote what `process` writes for the same files and cluster (/audit/replayed);
      // batches go concurrently, so in any order.
      const local = await runCli(['process', '--no-dedupe', '--cluster', 'replayed', ...paths]);
      const sorted = (lines: string[]) => lines.map((line) => JSON.stringify(JSON.parse(line))).sort();
      expect(sorted(receiver.lines)).toEqual(sorted(linesOf(local.stdout)));
    } finally {
      await receiver.stop();
    }
  });
});

describe('kube-audit replay: the request', () => {
  it('is what the API server sends: POST, path cleaned, ?timeout=30s, JSON headers, EventList of untyped items', async () => {
    server = await startServer((_request, response) => answer(response, 200));
    const token = join(tmp, 'token');
    writeFileSync(token, 's3cret\n');
    const run = await runCli([
      'replay',
      '--url',
      `${server.url}/audit/webhook/?foo=bar`,
      '--token-file',
      token,
      '--allow-insecure-token',
      DEMO_V1BETA1,
      DEMO,
    ]);
    expect(run.code).toBe(0);
    expect(server.requests).toHaveLength(2);
    const expectedItems = demoEvents.map(({ kind: _kind, apiVersion: _apiVersion, ...item }) => item);
    // Batches go concurrently and may arrive in either order: look at them in the order sent.
    const requests = [...server.requests].sort(
      (a, b) =>
        Number(listOf(b.body).apiVersion.endsWith('v1beta1')) - Number(listOf(a.body).apiVersion.endsWith('v1beta1')),
    );
    for (const [index, request] of requests.entries()) {
      expect(request.method).toBe('POST');
      expect(request.url).toBe('/audit/webhook?timeout=30s');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers.accept).toBe('application/json, */*');
      expect(request.headers.authorization).toBe('Bearer s3cret');
      const list = listOf(request.body);
      expect(list.kind).toBe('EventList');
      expect(list.apiVersion).toBe(index === 0 ? 'audit.k8s.io/v1beta1' : 'audit.k8s.io/v1');
      expect(list.metadata).toEqual({});
      for (const item of list.items) {
        expect(item).not.toHaveProperty('kind');
        expect(item).not.toHaveProperty('apiVersion');
      }
      if (index === 1) expect(list.items).toEqual(expectedItems);
    }
  });

  it('writes the timeout query as client-go does, from --timeout', async () => {
    server = await startServer((_request, response) => answer(response, 200));
    await runCli(['replay', '--url', server.url, '--timeout', '1m30s', DEMO]);
    expect(server.requests.map((request) => request.url)).toEqual(['/?timeout=1m30s']);
  });

  it('throttles batches to --qps after a --burst', async () => {
    server = await startServer((_request, response) => answer(response, 200));
    // One connection, so that no arrival is delayed by opening another.
    const args = ['--batch-size', '5', '--qps', '5', '--burst', '1', '--concurrency', '1', DEMO];
    const before = performance.now();
    const run = await runCli(['replay', '--url', server.url, ...args]);
    expect(run.code).toBe(0);
    expect(server.requests).toHaveLength(8);
    // 5 batches per second after a burst of 1: a token bucket never lets batch k go before
    // (k - 1) × 200 ms after the first, so none can arrive earlier after the run began. A slow
    // machine only makes arrivals later; an arrival's delay can shorten the gap to the next one,
    // so gaps between arrivals are not compared with the rate.
    for (const [k, request] of server.requests.entries()) expect(request.at - before).toBeGreaterThanOrEqual(k * 200);
    // Without a throttle all eight arrive within milliseconds of one another.
    expect((server.requests.at(-1)?.at ?? 0) - (server.requests[0]?.at ?? 0)).toBeGreaterThan(600);
  });
});

/** A log of copies of the first demo event, each with its own auditID, stageTimestamp (seconds from the start) and fields. */
function writeLog(name: string, events: { id: string; at?: number; fields?: Record<string, unknown> }[]): string {
  const start = Date.parse('2026-01-01T00:00:00Z');
  const lines = events.map(({ id, at, fields }) => {
    const {
      stageTimestamp: _stage,
      requestReceivedTimestamp: _received,
      timestamp: _timestamp,
      ...rest
    } = demoEvents[0] as Record<string, unknown>;
    const times = at === undefined ? {} : { stageTimestamp: new Date(start + at * 1000).toISOString() };
    return JSON.stringify({ ...rest, auditID: id, ...times, ...fields });
  });
  const file = join(tmp, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}
const idsOf = (requests: readonly { body: string }[]) =>
  requests.map((request) => listOf(request.body).items.map((item) => item.auditID));

describe('kube-audit replay: batches as the batch backend cuts them', () => {
  // plugin/pkg/audit/truncate/truncate.go ProcessEvents: a new batch when batchSize+size > MaxBatchSize
  // (10 MiB by default), the size of each event as encoded, newline included.
  it('sends a batch as EventLists of at most 10 MiB', async () => {
    server = await startServer((_request, response) => answer(response, 200));
    const big = 'x'.repeat(4 * 1024 * 1024);
    const log = writeLog('big.log', [
      { id: 'a', fields: { requestObject: { data: big } } },
      { id: 'b', fields: { requestObject: { data: big } } },
      { id: 'c', fields: { requestObject: { data: big } } },
      { id: 'd' },
    ]);
    const run = await runCli(['replay', '--url', server.url, '--concurrency', '1', log]);
    expect(run.code).toBe(0);
    expect(idsOf(server.requests)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    for (const request of server.requests)
      expect(Buffer.byteLength(request.body)).toBeLessThanOrEqual(10 * 1024 * 1024);
    expect(run.stderr).toContain('delivered 4 events in 2 batches');
  });

  // buffered.go processEvents with AsyncDelegate: each batch goes off in a goroutine of its own.
  it('sends up to --concurrency batches at once, never more', async () => {
    const held: (() => void)[] = [];
    let pending = 0;
    let most = 0;
    server = await startServer((_request, response) => {
      pending++;
      most = Math.max(most, pending);
      held.push(() => {
        pending--;
        answer(response, 200);
      });
      // Answer once three are waiting (a fourth sent too early would be counted in the meantime),
      // or when the last batch has arrived.
      if (held.length === 3 || server?.requests.length === 7) {
        setTimeout(() => {
          for (const release of held.splice(0)) release();
        }, 100);
      }
    });
    const log = writeLog(
      'seven.log',
      ['1', '2', '3', '4', '5', '6', '7'].map((id) => ({ id })),
    );
    const run = await runCli(['replay', '--url', server.url, '--batch-size', '1', '--concurrency', '3', log]);
    expect(run.code).toBe(0);
    expect(most).toBe(3);
    expect(idsOf(server.requests).flat().sort()).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    expect(run.stderr).toContain('delivered 7 events in 7 batches');
  });

  const gappy = [
    { id: 'a', at: 0 },
    { id: 'b', at: 1 },
    { id: 'c', at: 2 },
    { id: 'd', at: 35 },
    { id: 'e', at: 36 },
    { id: 'f', at: 100 },
  ];

  it('with --pace, also cuts a batch when 30 s of the log have passed, and replays the gaps', async () => {
    server = await startServer((_request, response) => answer(response, 200));
    const log = writeLog('gappy.log', gappy);
    const run = await runCli(['replay', '--url', server.url, '--pace', '100x', '--concurrency', '1', log]);
    expect(run.code).toBe(0);
    // The MaxBatchWait timer fires at 30 s (a, b, c) and 60 s (d, e); f goes when the log ends.
    expect(idsOf(server.requests)).toEqual([['a', 'b', 'c'], ['d', 'e'], ['f']]);
    // At 100x, the first batch goes at 0.3 s of replay and the last at 1 s: far more than 0.4 s apart.
    const [first, , last] = server.requests as [{ at: number }, unknown, { at: number }];
    expect(last.at - first.at).toBeGreaterThan(400);
  });

  it('restarts the 30 s at each cut, including one at --batch-size', async () => {
    server = await startServer((_request, response) => answer(response, 200));
    const log = writeLog('gappy2.log', gappy);
    const args = ['--batch-size', '2', '--concurrency', '1', log];
    const run = await runCli(['replay', '--url', server.url, '--pace', '1000x', ...args]);
    expect(run.code).toBe(0);
    // a+b fill a batch at 1 s; the timer then fires at 31 s (c); d+e fill one at 36 s; f at the end.
    expect(idsOf(server.requests)).toEqual([['a', 'b'], ['c'], ['d', 'e'], ['f']]);
  });

  it('without --pace (or with --pace none) cuts at --batch-size only, without waiting', async () => {
    server = await startServer((_request, response) => answer(response, 200));
    const log = writeLog('gappy3.log', gappy);
    for (const pace of [[], ['--pace', 'none']]) {
      const run = await runCli(['replay', '--url', server.url, ...pace, log]);
      expect(run.code).toBe(0);
    }
    expect(idsOf(server.requests)).toEqual([gappy.map((event) => event.id), gappy.map((event) => event.id)]);
  });

  it('with --pace original, sends each batch when its events happened', async () => {
    server = await startServer((_request, response) => answer(response, 200));
    const log = writeLog('original.log', [
      { id: 'a', at: 0 },
      { id: 'b', at: 0.4 },
      { id: 'c', at: 0.8 },
    ]);
    const args = ['--pace', 'original', '--batch-size', '1', '--concurrency', '1', log];
    const run = await runCli(['replay', '--url', server.url, ...args]);
    expect(run.code).toBe(0);
    expect(idsOf(server.requests)).toEqual([['a'], ['b'], ['c']]);
    // c is due 0.8 s after a (the first request also opens the connection: a generous bound).
    expect((server.requests[2]?.at ?? 0) - (server.requests[0]?.at ?? 0)).toBeGreaterThan(650);
  });

  it('with --pace, sends events without a usable time at once, and never waits for time going back', async () => {
    server = await startServer((_request, response) => answer(response, 200));
    const log = writeLog('odd-times.log', [
      { id: 'a', at: 0 },
      { id: 'b', fields: { stageTimestamp: 'not a time', requestReceivedTimestamp: null } },
      { id: 'c', at: -86_400 },
      { id: 'd' },
      { id: 'e', at: 0.1 },
    ]);
    const run = await runCli(['replay', '--url', server.url, '--pace', 'original', log]);
    expect(run.code).toBe(0);
    expect(idsOf(server.requests)).toEqual([['a', 'b', 'c', 'd', 'e']]);
    expect(run.stderr).toContain('delivered 5 events in 1 batch');
  });

  it.each([['fast'], ['0x'], ['-2x'], ['x'], ['1e3x'], ['Infinityx']])('refuses --pace %s', async (pace) => {
    const run = await runCli(['replay', '--url', 'http://127.0.0.1:1', `--pace=${pace}`, DEMO]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--pace: expected original, none or a speed such as 10x');
  });

  it('refuses --concurrency 0', async () => {
    const run = await runCli(['replay', '--url', 'http://127.0.0.1:1', '--concurrency', '0', DEMO]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--concurrency');
  });
});

describe('kube-audit replay: retries as the API server does them', () => {
  it('retries any non-2xx answer and a dropped connection, with backoff growing ×1.5', async () => {
    server = await startServer((request, response, index) => {
      if (index === 0) answer(response, 500);
      else if (index === 1) answer(response, 400);
      else if (index === 2) request.socket.destroy();
      else answer(response, 200);
    });
    const run = await runCli(['replay', '--url', server.url, '--initial-backoff', '200ms', '-v', DEMO]);
    expect(run.code).toBe(0);
    expect(server.requests).toHaveLength(4);
    expect(new Set(server.requests.map((request) => request.body)).size).toBe(1);
    expect(linesOf(run.stderr).slice(0, 3)).toEqual([
      'kube-audit: batch 1: attempt 1 failed: HTTP 500',
      'kube-audit: batch 1: attempt 2 failed: HTTP 400',
      'kube-audit: batch 1: attempt 3 failed: connection reset',
    ]);
    expect(run.stderr).toContain('delivered 37 events in 1 batch, dropped 0 batches (0 events), 3 retries');
    // Sleeps of 200, 300 and 450 ms, each times [1, 1.2): each gap is at least its step. (Only lower
    // bounds: a busy machine can stretch any gap, so comparing gaps with each other could fail.)
    const [first, second, third] = gaps(server.requests) as [number, number, number];
    expect(first).toBeGreaterThanOrEqual(195);
    expect(second).toBeGreaterThanOrEqual(295);
    expect(third).toBeGreaterThanOrEqual(445);
  });

  it('drops a batch after 5 failed attempts, goes on with the next, and exits 1', async () => {
    const firstAuditID = demoEvents[0]?.auditID as string;
    server = await startServer((_request, response, _index, body) =>
      answer(response, listOf(body).items[0]?.auditID === firstAuditID ? 500 : 200),
    );
    const run = await runCli(['replay', '--url', server.url, '--batch-size', '20', '--initial-backoff', '20ms', DEMO]);
    expect(run.code).toBe(1);
    expect(server.requests).toHaveLength(6);
    expect(run.stderr).toContain(
      `kube-audit: batch 1 (20 events from auditID ${firstAuditID}) dropped after 5 attempts: HTTP 500\n`,
    );
    expect(run.stderr).toContain('delivered 17 events in 1 batch, dropped 1 batch (20 events), 4 retries');
  });

  it('honours Retry-After on a 503 within the attempt, instead of backing off', async () => {
    server = await startServer((_request, response, index) =>
      index === 0 ? answer(response, 503, { 'retry-after': '1' }) : answer(response, 200),
    );
    // The default initial backoff (10s) would show if this were an ordinary retry.
    const run = await runCli(['replay', '--url', server.url, DEMO]);
    expect(run.code).toBe(0);
    expect(server.requests).toHaveLength(2);
    const [gap] = gaps(server.requests) as [number];
    // At least the second asked for, and less than the 10 s an ordinary retry would have waited.
    expect(gap).toBeGreaterThanOrEqual(990);
    expect(gap).toBeLessThan(10_000);
    expect(run.stderr).toContain('0 retries, 1 Retry-After re-post,');
  });

  // client-go rest/with_retry.go Before: backoff.SleepWithContext(ctx, delay) (since 1.33) stops the
  // Retry-After sleep at the request's deadline, and the attempt fails there.
  it('ends an attempt at its deadline when a Retry-After would pass it', async () => {
    server = await startServer((_request, response, index) =>
      index === 0 ? answer(response, 503, { 'retry-after': '30' }) : answer(response, 200),
    );
    const args = ['--timeout', '500ms', '--initial-backoff', '10ms', '-v', DEMO];
    const run = await runCli(['replay', '--url', server.url, ...args]);
    expect(run.code).toBe(0);
    expect(server.requests).toHaveLength(2);
    expect(run.stderr).toContain('attempt 1 failed: HTTP 503, Retry-After 30 passes the attempt');
    const [gap] = gaps(server.requests) as [number];
    expect(gap).toBeGreaterThanOrEqual(400);
    expect(gap).toBeLessThan(20_000);
  });

  it('re-posts after Retry-After at most 10 times within an attempt', async () => {
    server = await startServer((_request, response, index) =>
      index < 11 ? answer(response, 429, { 'retry-after': '0' }) : answer(response, 200),
    );
    const run = await runCli(['replay', '--url', server.url, '--initial-backoff', '10ms', DEMO]);
    expect(run.code).toBe(0);
    // Attempt 1: the first POST and 10 re-posts, all 429; attempt 2 succeeds.
    expect(server.requests).toHaveLength(12);
    expect(run.stderr).toContain('1 retry, 10 Retry-After re-posts,');
  });

  it('ignores a Retry-After that is not an integer, and one on a 4xx other than 429', async () => {
    server = await startServer((_request, response, index) => {
      if (index === 0) answer(response, 503, { 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' });
      else if (index === 1) answer(response, 400, { 'retry-after': '0' });
      else answer(response, 200);
    });
    const run = await runCli(['replay', '--url', server.url, '--initial-backoff', '10ms', DEMO]);
    expect(run.code).toBe(0);
    expect(server.requests).toHaveLength(3);
    expect(run.stderr).toContain('2 retries, 0 Retry-After re-posts,');
  });

  it('gives up on an attempt after --timeout and retries it', async () => {
    server = await startServer((_request, response, index) => {
      if (index > 0) answer(response, 200);
    });
    const run = await runCli([
      'replay',
      '--url',
      server.url,
      '--timeout',
      '300ms',
      '--initial-backoff',
      '10ms',
      '-v',
      DEMO,
    ]);
    expect(run.code).toBe(0);
    expect(server.requests).toHaveLength(2);
    expect(run.stderr).toContain('attempt 1 failed: no response within 300ms');
    expect(run.stderr).toContain('1 retry,');
  });

  it('counts a refused connection as a failed attempt', async () => {
    server = await startServer(() => {});
    const url = server.url;
    await server.close();
    server = undefined;
    const run = await runCli(['replay', '--url', url, '--initial-backoff', '1ms', DEMO]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('dropped after 5 attempts: connection refused');
  });
});

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.runIf(hasOpenssl)('kube-audit replay over TLS', () => {
  /** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
  function makePki(dir: string): void {
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ssl('req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=kube-audit-test-ca');
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
    writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const [name, subject] of [
      ['server', '/CN=127.0.0.1'],
      ['client', '/CN=kube-apiserver'],
    ] as const) {
      ssl('req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
      ssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '1',
        '-out',
        `${name}.crt`,
        '-extfile',
        `${name}.ext`,
      );
    }
  }

  it('verifies the receiver with --ca and presents --cert/--key; refuses an unknown CA', async () => {
    const pki = join(tmp, 'pki');
    execFileSync('mkdir', ['-p', pki]);
    makePki(pki);
    const file = (name: string) => readFileSync(join(pki, name), 'utf8');
    server = await startServer((_request, response) => answer(response, 200), {
      key: file('server.key'),
      cert: file('server.crt'),
      ca: file('ca.crt'),
      requestCert: true,
      rejectUnauthorized: true,
    });
    const client = ['--cert', join(pki, 'client.crt'), '--key', join(pki, 'client.key')];
    const trusted = await runCli(['replay', '--url', server.url, '--ca', join(pki, 'ca.crt'), ...client, DEMO]);
    expect(trusted.stderr).toContain('delivered 37 events in 1 batch');
    expect(trusted.code).toBe(0);

    const untrusted = await runCli(['replay', '--url', server.url, '--initial-backoff', '1ms', '-v', ...client, DEMO]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/attempt 1 failed: .*certificate/);

    const insecure = await runCli(['replay', '--url', server.url, '--insecure-skip-tls-verify', ...client, DEMO]);
    expect(insecure.code).toBe(0);
    expect(server.requests).toHaveLength(2);
  });
});

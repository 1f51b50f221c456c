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

      // The receiver wrote what `process` writes for the same files and cluster (/audit/replayed).
      const local = await runCli(['process', '--no-dedupe', '--cluster', 'replayed', ...paths]);
      expect(receiver.lines.map((line) => JSON.parse(line))).toEqual(
        linesOf(local.stdout).map((line) => JSON.parse(line)),
      );
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
    for (const [index, request] of server.requests.entries()) {
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
    const run = await runCli(['replay', '--url', server.url, '--batch-size', '5', '--qps', '5', '--burst', '1', DEMO]);
    expect(run.code).toBe(0);
    expect(server.requests).toHaveLength(8);
    // 5 batches per second: at least ~200 ms apart (a token bucket never lets one through early).
    for (const gap of gaps(server.requests)) expect(gap).toBeGreaterThan(180);
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

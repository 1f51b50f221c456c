/**
 * /metrics of the built receiver as a real process, read with a strict parser of the Prometheus
 * text format: every metric the README lists with its type and labels, the process metrics, and
 * counters that move by exactly what was sent.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { postAudit, type ReceiverProcess, startReceiver } from '../../../test/support/receiver';
import { auditEvent, eventList } from './support/events';
import { type MetricFamily, type MetricType, parsePrometheusText, sampleValue } from './support/prometheus-text';
import { runtimes } from './support/runtimes';

/** The receiver's metrics: name, type, label names (besides `le` on histogram buckets). */
const DOCUMENTED_METRICS: [string, MetricType, string[]][] = [
  ['kube_audit_requests_total', 'counter', ['code']],
  ['kube_audit_events_received_total', 'counter', []],
  ['kube_audit_events_written_total', 'counter', []],
  ['kube_audit_events_dropped_total', 'counter', ['reason']],
  ['kube_audit_events_invalid_total', 'counter', []],
  ['kube_audit_events_truncated_total', 'counter', []],
  ['kube_audit_events_cut_total', 'counter', []],
  ['kube_audit_events_redacted_total', 'counter', []],
  ['kube_audit_batch_events', 'histogram', []],
  ['kube_audit_request_duration_seconds', 'histogram', []],
  ['kube_audit_sink_pending_bytes', 'gauge', []],
];

const MAX_PENDING_BYTES = 8 * 1024 * 1024;
const MAX_EVENT_BYTES = 4096;

// Drops watch events, so that a policy drop can be counted; keeps everything else whole.
const policyFile = join(tmpdir(), `kube-audit-metrics-policy-${process.pid}.yaml`);
writeFileSync(
  policyFile,
  [
    'apiVersion: audit.k8s.io/v1',
    'kind: Policy',
    'rules:',
    '  - level: None',
    '    verbs: ["watch"]',
    '  - level: RequestResponse',
    '',
  ].join('\n'),
);
afterAll(() => rmSync(policyFile, { force: true }));

/**
 * One batch of each kind of item: 4 plain events, a watch the policy drops, a Secret create whose
 * data is redacted, an event over MAX_EVENT_BYTES that is truncated, one still too long without
 * bodies that is cut down, and 2 items that are not audit events.
 */
const BATCH = eventList([
  ...Array.from({ length: 4 }, (_, i) => auditEvent(`plain-${i}`)),
  auditEvent('watch-0', { verb: 'watch', requestURI: '/api/v1/pods?watch=true' }),
  auditEvent('secret-0', {
    level: 'RequestResponse',
    verb: 'create',
    requestURI: '/api/v1/namespaces/default/secrets',
    objectRef: { resource: 'secrets', namespace: 'default', name: 'db', apiVersion: 'v1' },
    requestObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db' }, data: { password: 'aHVudGVyMg==' } },
  }),
  auditEvent('large-0', {
    level: 'RequestResponse',
    verb: 'create',
    requestURI: '/api/v1/namespaces/default/configmaps',
    objectRef: { resource: 'configmaps', namespace: 'default', name: 'big', apiVersion: 'v1' },
    requestObject: { kind: 'ConfigMap', apiVersion: 'v1', data: { blob: 'x'.repeat(2 * MAX_EVENT_BYTES) } },
  }),
  auditEvent('cut-0', { userAgent: 'u'.repeat(2 * MAX_EVENT_BYTES) }),
  { auditID: 'no-stage' },
  'not an object',
]);

let receiver: ReceiverProcess | undefined;
afterEach(async () => {
  await receiver?.stop();
  receiver = undefined;
});

async function scrape(r: ReceiverProcess): Promise<Map<string, MetricFamily>> {
  const response = await fetch(`${r.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await response.text());
}

describe.each(runtimes)('/metrics on $name', ({ command }) => {
  it('has every documented metric with its type and labels, and the process metrics', async () => {
    receiver = await startReceiver({ command, env: { MAX_PENDING_BYTES: String(MAX_PENDING_BYTES) } });
    const metrics = await scrape(receiver);
    for (const [name, type, labels] of DOCUMENTED_METRICS) {
      const family = metrics.get(name);
      expect(family?.type, name).toBe(type);
      expect(family?.help, name).toBeTruthy();
      for (const sample of family?.samples ?? []) {
        const names = Object.keys(sample.labels).filter((label) => label !== 'le');
        expect(names.sort(), `${sample.name} labels`).toEqual([...labels].sort());
      }
    }
    // Dropped reasons exist before the first drop, so rate() and alerts work from the start.
    expect(sampleValue(metrics, 'kube_audit_events_dropped_total', { reason: 'policy' })).toBe(0);
    expect(sampleValue(metrics, 'kube_audit_events_dropped_total', { reason: 'duplicate' })).toBe(0);
    expect(sampleValue(metrics, 'kube_audit_sink_pending_bytes')).toBe(0);
    expect(sampleValue(metrics, 'kube_audit_sink_max_pending_bytes')).toBe(MAX_PENDING_BYTES);
    // No certificate, so no expiry series (a 0 would read as long expired).
    expect(metrics.has('kube_audit_tls_certificate_expiration_timestamp_seconds')).toBe(false);

    expect(metrics.get('process_cpu_seconds_total')?.type).toBe('counter');
    expect(sampleValue(metrics, 'process_resident_memory_bytes')).toBeGreaterThan(1024 * 1024);
    expect(sampleValue(metrics, 'process_start_time_seconds')).toBeGreaterThan(Date.now() / 1000 - 600);
    expect(metrics.get('nodejs_heap_size_used_bytes')?.type).toBe('gauge');
  });

  it('moves the counters by exactly the events sent, dropped and invalid', async () => {
    receiver = await startReceiver({
      command,
      env: { AUDIT_POLICY_FILE: policyFile, MAX_EVENT_BYTES: String(MAX_EVENT_BYTES) },
    });
    const r = receiver;
    const before = await scrape(r);

    const first = await postAudit(`${r.url}/audit`, BATCH);
    expect(await first.json()).toEqual({ received: 10, written: 7, dropped: { policy: 1, duplicate: 0 }, invalid: 2 });
    const mid = await scrape(r);
    // The API server's retry of the same batch: every written event is now a duplicate.
    const retry = await postAudit(`${r.url}/audit`, BATCH);
    expect(await retry.json()).toEqual({ received: 10, written: 0, dropped: { policy: 1, duplicate: 7 }, invalid: 2 });
    expect((await postAudit(`${r.url}/audit`, '{"items":[')).status).toBe(400);
    expect((await postAudit(`${r.url}/audit`, '[]', { 'content-type': 'text/plain' })).status).toBe(415);
    await r.waitFor(() => r.lines.length === 7);
    const after = await scrape(r);

    const delta = (from: Map<string, MetricFamily>, to: Map<string, MetricFamily>) =>
      function counted(name: string, labels: Record<string, string> = {}) {
        return sampleValue(to, name, labels) - safeValue(from, name, labels);
      };
    const firstBatch = delta(before, mid);
    expect(firstBatch('kube_audit_events_received_total')).toBe(10);
    expect(firstBatch('kube_audit_events_written_total')).toBe(7);
    expect(firstBatch('kube_audit_events_dropped_total', { reason: 'policy' })).toBe(1);
    expect(firstBatch('kube_audit_events_dropped_total', { reason: 'duplicate' })).toBe(0);
    expect(firstBatch('kube_audit_events_invalid_total')).toBe(2);
    expect(firstBatch('kube_audit_events_truncated_total')).toBe(2);
    expect(firstBatch('kube_audit_events_cut_total')).toBe(1);
    expect(firstBatch('kube_audit_events_redacted_total')).toBe(1);

    const rest = delta(mid, after);
    expect(rest('kube_audit_events_received_total')).toBe(10);
    expect(rest('kube_audit_events_written_total')).toBe(0);
    expect(rest('kube_audit_events_dropped_total', { reason: 'policy' })).toBe(1);
    expect(rest('kube_audit_events_dropped_total', { reason: 'duplicate' })).toBe(7);
    expect(rest('kube_audit_events_invalid_total')).toBe(2);
    expect(rest('kube_audit_events_truncated_total')).toBe(0);
    expect(rest('kube_audit_events_cut_total')).toBe(0);
    // (Redaction runs before dedupe, so the retry's Secret is counted as redacted again.)

    const all = delta(before, after);
    // Two batches of 10 items; the 400 and the 415 carried no batch.
    expect(all('kube_audit_batch_events_count')).toBe(2);
    expect(all('kube_audit_batch_events_sum')).toBe(20);
    expect(all('kube_audit_batch_events_bucket', { le: '10' })).toBe(2);
    expect(all('kube_audit_batch_events_bucket', { le: '1' })).toBe(0);
    // Requests are counted once answered: two scrapes, two 200s, a 400 and a 415.
    expect(all('kube_audit_requests_total', { code: '200' })).toBe(4);
    expect(all('kube_audit_requests_total', { code: '400' })).toBe(1);
    expect(all('kube_audit_requests_total', { code: '415' })).toBe(1);
    expect(all('kube_audit_request_duration_seconds_count')).toBe(6);
    expect(sampleValue(after, 'kube_audit_sink_pending_bytes')).toBe(0);

    const lines = r.lines.map((line) => JSON.parse(line) as { auditID: string; annotations?: Record<string, string> });
    expect(lines.map((line) => line.auditID)).toEqual([
      'plain-0',
      'plain-1',
      'plain-2',
      'plain-3',
      'secret-0',
      'large-0',
      'cut-0',
    ]);
    expect(lines[4]?.annotations?.['kube-audit/redacted']).toBe('true');
    expect(lines[5]?.annotations?.['audit.k8s.io/truncated']).toBe('true');
    expect(lines[5]?.annotations?.['kube-audit/cut']).toBeUndefined();
    expect(lines[6]?.annotations).toMatchObject({ 'audit.k8s.io/truncated': 'true', 'kube-audit/cut': 'true' });
    for (const line of r.lines) expect(Buffer.byteLength(line) + 1).toBeLessThanOrEqual(MAX_EVENT_BYTES);
  });
});

/** A series' value, or 0 when it does not exist yet (a status code not seen before). */
function safeValue(families: Map<string, MetricFamily>, name: string, labels: Record<string, string>): number {
  try {
    return sampleValue(families, name, labels);
  } catch {
    return 0;
  }
}

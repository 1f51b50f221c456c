/**
 * Cloud exports through the CLI as a real process: EKS, AKS, GKE and OpenShift records (real
 * public samples, see fixtures/real/SOURCES.md) read by process, stats and replay, detected per
 * line or document, gzip and base64 opened, bad records reported by file and line.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver } from '../../../test/support/receiver';
import { linesOf, REAL, runCli } from './support/cli';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'kube-audit-formats-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const text = (path: string) => readFileSync(`${REAL}${path}`, 'utf8');
interface Line {
  auditID: string;
  level: string;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}
const parse = (stdout: string) => linesOf(stdout).map((line) => JSON.parse(line) as Line);
const eksMessage = JSON.parse(text('eks/workshop-get-query-results.json')).results[0][1].value as string;
const eksEvent = JSON.parse(eksMessage);

/** One record per line, in the formats a responder is handed, with two that hold no event. */
function mixedLog(): { path: string; lines: string[] } {
  const lines = [
    linesOf(text('audit2rbac/demo.log'))[0] as string,
    text('aks/elastic-test-kube-audit.log').trimEnd(),
    linesOf(text('gke/elastic-test-audit-lines-1-5-8-9.log'))[1] as string,
    JSON.stringify(JSON.parse(text('openshift/viaq_audit_kubernetes.json'))),
    `2023-07-31T01:58:12.101Z ${eksMessage}`,
    text('eks/subscription-payload.b64').trimEnd(),
    linesOf(text('gke/elastic-test-audit-lines-1-5-8-9.log'))[0] as string,
    '{"kind":"Event","auditID":"x"',
  ];
  const path = join(tmp, 'incident.log');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return { path, lines };
}

describe('kube-audit process: cloud exports', () => {
  it('gives one event per record of a mixed file, none lost, and reports the rest by line', async () => {
    const { path } = mixedLog();
    const run = await runCli(['process', '--no-dedupe', '--summary', path]);
    expect(run.code).toBe(0);
    const events = parse(run.stdout);
    expect(events.map((e) => e.auditID)).toEqual([
      JSON.parse(linesOf(text('audit2rbac/demo.log'))[0] as string).auditID,
      'ad26f7bc-f1c6-4097-90f1-e0924e12f257',
      '5555555-6349-45d2-b905-fc607e6c5d3b',
      '0aa7d5c9-1afd-4fc4-920c-e5d9e0b7befa',
      eksEvent.auditID,
      eksEvent.auditID,
    ]);
    // The cluster each envelope names; the S3 export line names none.
    expect(events.map((e) => e.annotations?.['kube-audit/cluster'])).toEqual([
      undefined,
      'TEST-CLUSTER',
      'analysis-cluster',
      'd24a392b-dd87-4eb8-a1a9-7384423567e3',
      undefined,
      'eksworkshop-eksctl',
    ]);
    expect(events[2]?.annotations?.['kube-audit/source']).toBe('gke');
    expect(events[3]?.level).toBe('Metadata');
    expect(run.stderr.split('\n')).toEqual([
      `${path}:7: a Cloud Audit Logs entry of another service than Kubernetes (k8s.io)`,
      expect.stringMatching(new RegExp(`^${path}:8: not valid JSON: unexpected end of input`)),
      expect.stringMatching(/^kube-audit process: read 6 events \(2 invalid\), wrote 6 lines/),
      '',
    ]);
  });

  it('names every event with --cluster instead of the envelopes', async () => {
    const { path } = mixedLog();
    const events = parse((await runCli(['process', '--no-dedupe', '--cluster', 'prod-eu', path])).stdout);
    expect(new Set(events.map((e) => e.annotations?.['kube-audit/cluster']))).toEqual(new Set(['prod-eu']));
  });

  it('runs the pipeline on unwrapped events as on any other: policy, redaction, dedupe', async () => {
    const { path } = mixedLog();
    const policy = join(tmp, 'policy.yaml');
    writeFileSync(
      policy,
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n    resources: [{ group: apps, resources: [deployments] }]\n  - level: Metadata\n',
    );
    const run = await runCli(['process', '--summary', '--policy', policy, path]);
    // The EKS event (deployments) is dropped twice by policy; the demo line, AKS, GKE, OpenShift remain,
    // and the GKE event loses its bodies to the Metadata rule.
    expect(run.stderr).toContain('read 6 events (2 invalid), wrote 4 lines, dropped 2 by policy');
    const gke = parse(run.stdout).find((e) => e.annotations?.['kube-audit/source'] === 'gke');
    expect(gke).toMatchObject({ level: 'Metadata' });
    expect(gke).not.toHaveProperty('requestObject');
    // Dedupe: the S3 export line and the subscription payload carry the same event.
    const deduped = await runCli(['process', '--summary', path]);
    expect(deduped.stderr).toContain('read 6 events (2 invalid), wrote 5 lines, dropped 0 by policy and 1 duplicate');
  });

  it('reads gzip transparently: a subscription payload, a Firehose object, an S3 export', async () => {
    for (const file of ['eks/subscription-payload.json.gz', 'eks/firehose-object.gz', 'eks/s3-export-000000.gz']) {
      const run = await runCli(['process', `${REAL}${file}`]);
      expect(run.stderr, file).toBe('');
      expect(
        linesOf(run.stdout).map((line) => JSON.parse(line).auditID),
        file,
      ).toEqual([eksEvent.auditID]);
    }
  });

  it('reads pretty-printed documents: filter-log-events and Logs Insights output, OpenShift records', async () => {
    const run = await runCli([
      'process',
      '--no-dedupe',
      `${REAL}eks/filter-log-events.json`,
      `${REAL}eks/workshop-get-query-results.json`,
      `${REAL}openshift/viaq_audit_openshift.json`,
      `${REAL}openshift/viaq_audit_ovn.json`,
    ]);
    expect(parse(run.stdout).map((e) => e.auditID)).toEqual([
      eksEvent.auditID,
      eksEvent.auditID,
      'b38f72ea-4552-4cb4-8b63-7328d95b1a04',
    ]);
    // The EKS message comes out as the API server wrote it.
    expect(linesOf(run.stdout)[0]).toBe(eksMessage);
    expect(run.stderr).toBe(
      `${REAL}openshift/viaq_audit_ovn.json: an OpenShift ovn audit record, not a Kubernetes audit event\n`,
    );
  });

  it('forces a format with --format, reporting records of another shape; refuses an unknown one', async () => {
    const aks = `${REAL}aks/elastic-test-kube-audit.log`;
    const forced = await runCli(['process', '--format', 'gke', aks]);
    expect(forced).toMatchObject({
      code: 0,
      stdout: '',
      stderr: `${aks}:1: not a GKE (Cloud Logging) record (it looks like AKS (Azure Monitor))\n`,
    });
    expect(parse((await runCli(['process', '--format', 'aks', aks])).stdout)).toHaveLength(1);
    const bad = await runCli(['process', '--format', 'cloudtrail', aks]);
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toBe(
      'kube-audit: --format: must be auto, kubernetes, eks, aks, gke, openshift (got "cloudtrail")\n',
    );
  });

  it('reports hostile base64 and envelopes by line, and goes on', async () => {
    const path = join(tmp, 'hostile.log');
    const bomb = gzipSync(Buffer.alloc(300 * 1024 * 1024, 0x20)).toString('base64');
    writeFileSync(
      path,
      [
        Buffer.from('not gzip, not json at all').toString('base64'),
        Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]).toString('base64'),
        bomb,
        '{"records":[{"category":"kube-audit","properties":{"log":"skipped-too-big-size-object"}}]}',
        '{"messageType":"DATA_MESSAGE","logGroup":"/aws/eks/x/cluster","logEvents":[{"message":"{\\"kind\\":\\"Event\\"}"}]}',
        eksMessage,
      ].join('\n'),
    );
    const run = await runCli(['process', path]);
    expect(parse(run.stdout).map((e) => e.auditID)).toEqual([eksEvent.auditID]);
    expect(run.stderr.split('\n')).toEqual([
      `${path}:1: base64 data that is neither gzip nor JSON`,
      `${path}:2: base64 data that is not valid gzip`,
      `${path}:3: base64 gzip data larger than 33554432 bytes once gunzipped`,
      `${path}:4: records[0].properties.log: no event: AKS left it out of the export (skipped-too-big-size-object)`,
      `${path}:5: logEvents[0].message: the message is not an audit event: invalid audit event: missing auditID`,
      '',
    ]);
  });
});

describe('kube-audit: a large export that is one JSON document', () => {
  it('streams a gcloud-style array of entries item by item, within a heap smaller than the file', async () => {
    // `gcloud logging read --format=json` writes one pretty-printed array. Read whole, 25 MB of it
    // does not fit in a 48 MiB heap (the run aborts); item by item it does.
    const entries = linesOf(text('gke/elastic-test-audit-lines-1-5-8-9.log'))
      .slice(1)
      .map((line) => JSON.parse(line));
    const path = join(tmp, 'gcloud-logging-read.json');
    const parts: string[] = [];
    let size = 0;
    let count = 0;
    while (size < 25_000_000) {
      const entry = entries[count % entries.length];
      const part = JSON.stringify(
        {
          ...entry,
          insertId: `i-${count}`,
          operation: { id: `op-${count}`, producer: 'k8s.io', first: true, last: true },
        },
        null,
        2,
      );
      parts.push(part);
      size += part.length + 2;
      count++;
    }
    writeFileSync(path, `[\n${parts.join(',\n')}\n]\n`);
    const run = await runCli(['stats', '--json', path], { env: { NODE_OPTIONS: '--max-old-space-size=48' } });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toMatchObject({ events: count, invalid: 0 });
  }, 120_000);

  it('reports an array document cut short, after reading the items before the cut', async () => {
    const entries = linesOf(text('gke/elastic-test-audit-lines-1-5-8-9.log')).slice(1);
    const path = join(tmp, 'cut.json');
    writeFileSync(path, `[\n${entries.join(',\n')},\n{"insertId": "x", "proto`);
    const run = await runCli(['process', path]);
    expect(parse(run.stdout)).toHaveLength(3);
    expect(run.stderr).toBe(`${path}: not valid JSON: unexpected end of input after 3 items\n`);
  });
});

describe('kube-audit stats and replay: cloud exports', () => {
  it('counts the events of every EKS export shape alike', async () => {
    const files = [
      'eks/filter-log-events.json',
      'eks/workshop-get-query-results.json',
      'eks/subscription-payload.json.gz',
      'eks/subscription-payload.b64',
      'eks/firehose-object.gz',
      'eks/s3-export-000000.gz',
    ].map((file) => `${REAL}${file}`);
    const run = await runCli(['stats', '--json', ...files]);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toMatchObject({ events: 6, invalid: 0, verbs: { list: 6 } });
  });

  it('replays a mixed export into the receiver: it writes what process writes', async () => {
    const { path } = mixedLog();
    const receiver = await startReceiver({ env: { DEDUPE_CACHE_SIZE: '0' } });
    try {
      const run = await runCli(['replay', '--url', `${receiver.url}/audit/restored`, path]);
      expect(run.code).toBe(0);
      expect(run.stderr).toContain(
        'delivered 6 events in 1 batch, dropped 0 batches (0 events), 0 retries, 0 Retry-After re-posts, 2 invalid',
      );
      await receiver.waitFor(() => receiver.lines.length === 6);
      const local = await runCli(['process', '--no-dedupe', '--cluster', 'restored', path]);
      expect(receiver.lines.map((line) => JSON.parse(line))).toEqual(parse(local.stdout));
    } finally {
      await receiver.stop();
    }
  });
});

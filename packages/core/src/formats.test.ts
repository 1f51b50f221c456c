import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AKS_SKIPPED, gkeRequestOf, SOURCE_ANNOTATION, type UnwrappedRecord, unwrapRecords } from './formats';
import { serializeEvent } from './serialize';

const real = (path: string) => new URL(`../../../fixtures/real/${path}`, import.meta.url);
const text = (path: string) => readFileSync(real(path), 'utf8');
const gunzipped = (path: string) => gunzipSync(readFileSync(real(path))).toString('utf8');

/** The events of records, parsed back from their lines, and the failures. */
function split(records: UnwrappedRecord[]) {
  const events = records.flatMap((r) =>
    r.event ? [JSON.parse(serializeEvent(r.event)) as Record<string, unknown>] : [],
  );
  const failures = records.flatMap((r) => (r.event ? [] : [{ at: r.at, reason: r.reason }]));
  return {
    events,
    failures,
    formats: records.map((r) => r.format),
    clusters: records.map((r) => r.event && r.cluster),
  };
}

/** The real EKS event (AWS's EKS security workshop): the message every EKS envelope carries. */
const eksMessage = JSON.parse(text('eks/workshop-get-query-results.json')).results[0][1].value as string;

describe('unwrapRecords: EKS', () => {
  it('takes the event of a Logs Insights result row as is, with the cluster of its log group', () => {
    const records = unwrapRecords(text('eks/workshop-get-query-results.json'));
    expect(records).toHaveLength(1);
    expect(records[0]?.format).toBe('eks');
    expect(records[0]?.event && serializeEvent(records[0].event)).toBe(eksMessage);
    expect(records[0]?.event && records[0].cluster).toBe('eksworkshop-eksctl');
  });

  it('reads filter-log-events output, a subscription payload and an S3 export line', () => {
    for (const input of [
      text('eks/filter-log-events.json'),
      gunzipped('eks/subscription-payload.json.gz'),
      gunzipped('eks/s3-export-000000.gz').trimEnd(),
    ]) {
      const records = unwrapRecords(input);
      expect(records.map((r) => r.event && serializeEvent(r.event))).toEqual([eksMessage]);
    }
    expect(unwrapRecords(gunzipped('eks/subscription-payload.json.gz'))[0]).toMatchObject({
      cluster: 'eksworkshop-eksctl',
      at: 'logEvents[0].message',
    });
  });

  it('reads Firehose objects (payloads back to back) and skips CloudWatch control messages', () => {
    const records = unwrapRecords(gunzipped('eks/firehose-object.gz'));
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      format: 'eks',
      at: 'value 2.logEvents[0].message',
      cluster: 'eksworkshop-eksctl',
    });
  });

  it('reports a message that is not an event (another log stream of the group) with where it was', () => {
    const payload = JSON.stringify({
      messageType: 'DATA_MESSAGE',
      logGroup: '/aws/eks/prod/cluster',
      logEvents: [{ message: 'I0109 21:24:54.475483 1 clusterstate.go:300] not json' }, { message: eksMessage }, {}],
    });
    const { events, failures } = split(unwrapRecords(payload));
    expect(events).toHaveLength(1);
    expect(failures).toEqual([
      {
        at: 'logEvents[0].message',
        reason: expect.stringMatching(/^the message is not an audit event: not valid JSON/),
      },
      { at: 'logEvents[2].message', reason: 'no event: the message is missing or not a string' },
    ]);
  });
});

describe('unwrapRecords: AKS', () => {
  it('takes properties.log (a JSON string) as the event, untouched, with the cluster of resourceId', () => {
    const line = text('aks/elastic-test-kube-audit.log').trimEnd();
    const records = unwrapRecords(line);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ format: 'aks', cluster: 'TEST-CLUSTER', at: 'properties.log' });
    expect(records[0]?.event && serializeEvent(records[0].event)).toBe(JSON.parse(line).properties.log);
  });

  it('takes properties.log already parsed into an object, byte for byte as it stands', () => {
    const line = text('mixed/elastic-test-audit.log').trimEnd().split('\n')[4] as string;
    const [record] = unwrapRecords(line);
    const raw = line.slice(line.indexOf('"log":') + 6, line.indexOf(',"pod"'));
    expect(record?.event && serializeEvent(record.event)).toBe(raw);
    expect(record).toMatchObject({ format: 'aks', cluster: 'TEST-AKS' });
  });

  it('reads Event Hub bodies record by record, and reports skipped and non-audit records', () => {
    const [audit, admin] = text('mixed/elastic-test-audit.log')
      .trimEnd()
      .split('\n')
      .slice(4)
      .concat(text('aks/elastic-test-kube-audit.log').trimEnd())
      .reverse();
    const body = `{"records":[${audit},${admin},{"category":"kube-audit","properties":{"log":"${AKS_SKIPPED}"}},{"category":"kube-apiserver","properties":{"log":"I0101 started"}}]}`;
    const { events, failures, clusters } = split(unwrapRecords(body));
    expect(events.map((e) => e.auditID)).toEqual(['ad26f7bc-f1c6-4097-90f1-e0924e12f257', 'abcde12345']);
    expect(clusters.slice(0, 2)).toEqual(['TEST-CLUSTER', 'TEST-AKS']);
    expect(failures).toEqual([
      { at: 'records[2].properties.log', reason: `no event: AKS left it out of the export (${AKS_SKIPPED})` },
      { at: 'records[3]', reason: 'an AKS log of another category than kube-audit or kube-audit-admin' },
    ]);
  });

  it('rebuilds an event from a Log Analytics AKSAudit row (PascalCase columns, dynamic ones as JSON text)', () => {
    const event = JSON.parse(JSON.parse(text('aks/elastic-test-kube-audit.log')).properties.log);
    const row = {
      TimeGenerated: '2025-10-07T16:19:19.648Z',
      Level: event.level,
      AuditId: event.auditID,
      Stage: event.stage,
      RequestUri: event.requestURI,
      Verb: event.verb,
      User: JSON.stringify(event.user),
      SourceIps: JSON.stringify(event.sourceIPs),
      UserAgent: event.userAgent,
      ObjectRef: event.objectRef,
      ResponseStatus: event.responseStatus,
      RequestReceivedTime: event.requestReceivedTimestamp,
      StageReceivedTime: event.stageTimestamp,
      Annotations: event.annotations,
      PodName: 'kube-apiserver-869d7bb754-kkg69',
      Type: 'AKSAudit',
      _ResourceId:
        '/subscriptions/x/resourcegroups/test/providers/microsoft.containerservice/managedclusters/test-cluster',
    };
    const { events, clusters } = split(unwrapRecords(JSON.stringify([row])));
    expect(events).toEqual([
      { ...event, annotations: { ...event.annotations, [SOURCE_ANNOTATION]: 'aks-log-analytics' } },
    ]);
    expect(clusters).toEqual(['test-cluster']);
  });
});

describe('unwrapRecords: GKE', () => {
  const lines = text('gke/elastic-test-audit-lines-1-5-8-9.log').trimEnd().split('\n');

  it('rebuilds the event of a k8s.io AuditLog entry and marks it', () => {
    const { events, clusters, formats } = split(unwrapRecords(lines[1] as string));
    expect(formats).toEqual(['gke']);
    expect(clusters).toEqual(['analysis-cluster']);
    const entry = JSON.parse(lines[1] as string);
    const { '@type': _request, ...request } = entry.protoPayload.request;
    const { '@type': _response, ...response } = entry.protoPayload.response;
    expect(events[0]).toEqual({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'RequestResponse',
      auditID: '5555555-6349-45d2-b905-fc607e6c5d3b',
      stage: 'ResponseComplete',
      requestURI: '/apis/authorization.k8s.io/v1beta1/subjectaccessreviews',
      verb: 'create',
      user: { username: 'system:serviceaccount:cert-manager:cert-manager-webhook' },
      sourceIPs: ['10.11.12.13'],
      userAgent: 'webhook/v0.0.0 (linux/amd64) kubernetes/$Format',
      objectRef: { resource: 'subjectaccessreviews', apiGroup: 'authorization.k8s.io', apiVersion: 'v1beta1' },
      responseStatus: { code: 200 },
      requestObject: request,
      responseObject: response,
      requestReceivedTimestamp: '2020-08-05T21:07:30.974750Z',
      stageTimestamp: '2020-08-05T21:07:30.974750Z',
      annotations: { ...entry.labels, [SOURCE_ANNOTATION]: 'gke' },
    });
  });

  it('maps a namespaced list, the legacy core group, and a refused request (google.rpc code 7 → 403)', () => {
    const { events } = split([...unwrapRecords(lines[2] as string), ...unwrapRecords(lines[3] as string)]);
    expect(events.map((e) => [e.requestURI, e.verb, e.objectRef, e.level])).toEqual([
      ['/api/v1/nodes', 'list', { resource: 'nodes', apiVersion: 'v1' }, 'Metadata'],
      [
        '/apis/extensions/v1beta1/namespaces/cos-auditd/ingresses',
        'list',
        { resource: 'ingresses', namespace: 'cos-auditd', apiGroup: 'extensions', apiVersion: 'v1beta1' },
        'Metadata',
      ],
    ]);
    const [denied] = split(unwrapRecords(text('gke/elastic-test-k8s-nonmatching-resourcename.log').trimEnd())).events;
    expect(denied).toMatchObject({
      requestURI: '/HNAP1',
      verb: 'get',
      user: { username: 'system:anonymous' },
      responseStatus: { code: 403, status: 'Failure' },
      annotations: { 'authorization.k8s.io/decision': 'forbid', [SOURCE_ANNOTATION]: 'gke' },
    });
    expect(denied).not.toHaveProperty('objectRef');
  });

  it('reports Cloud Audit Logs entries of other services', () => {
    expect(unwrapRecords(lines[0] as string)).toEqual([
      { format: 'gke', reason: 'a Cloud Audit Logs entry of another service than Kubernetes (k8s.io)', at: '' },
    ]);
  });

  it('splits resource names as the API server does (requestinfo.go: namespaces/{ns}/{resource}, status and finalize)', () => {
    // staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go: after namespaces/{name}, a
    // third part is a resource unless it is one of namespaceSubresources ("status", "finalize").
    expect(gkeRequestOf('core/v1/namespaces/team-a').objectRef).toEqual({
      resource: 'namespaces',
      namespace: 'team-a',
      name: 'team-a',
      apiVersion: 'v1',
    });
    expect(gkeRequestOf('core/v1/namespaces/team-a/finalize').objectRef).toEqual({
      resource: 'namespaces',
      namespace: 'team-a',
      name: 'team-a',
      apiVersion: 'v1',
      subresource: 'finalize',
    });
    expect(gkeRequestOf('core/v1/namespaces/team-a/pods/web-0/exec')).toEqual({
      requestURI: '/api/v1/namespaces/team-a/pods/web-0/exec',
      objectRef: { resource: 'pods', namespace: 'team-a', name: 'web-0', apiVersion: 'v1', subresource: 'exec' },
    });
    expect(gkeRequestOf('apps/v1/deployments')).toEqual({
      requestURI: '/apis/apps/v1/deployments',
      objectRef: { resource: 'deployments', apiGroup: 'apps', apiVersion: 'v1' },
    });
    expect(gkeRequestOf('api/v1')).toEqual({ requestURI: '/api/v1' });
    expect(gkeRequestOf('')).toEqual({ requestURI: '/' });
  });

  it('gives the entries of one long request (operation first, then last) the same auditID and their stages', () => {
    const entry = JSON.parse(lines[2] as string);
    const started = {
      ...entry,
      insertId: 'e1',
      operation: { id: 'op-1', producer: 'k8s.io', first: true, last: false },
    };
    const done = { ...entry, insertId: 'e2', operation: { id: 'op-1', producer: 'k8s.io', last: true } };
    const { events } = split(unwrapRecords(JSON.stringify([started, done])));
    expect(events.map((e) => [e.auditID, e.stage])).toEqual([
      ['op-1', 'ResponseStarted'],
      ['op-1', 'ResponseComplete'],
    ]);
  });
});

describe('unwrapRecords: OpenShift', () => {
  it('strips the collector fields and restores the level Vector overwrote with "default"', () => {
    const source = text('openshift/viaq_audit_kubernetes.json');
    const record = JSON.parse(source);
    const [found] = unwrapRecords(source);
    expect(found).toMatchObject({ format: 'openshift', cluster: 'd24a392b-dd87-4eb8-a1a9-7384423567e3' });
    const event = JSON.parse(serializeEvent(found?.event as never));
    const {
      '@timestamp': _,
      timestamp: _t,
      hostname: _h,
      k8s_audit_level,
      log_type: _l,
      log_source: _s,
      openshift: _o,
      source_type: _st,
      tag: _tag,
      ...rest
    } = record;
    expect(event).toEqual({ ...rest, level: k8s_audit_level });
  });

  it('restores openshift_audit_level (openshift-apiserver) and the level Fluentd overwrote with "info"', () => {
    const [openshiftApi] = split(unwrapRecords(text('openshift/viaq_audit_openshift.json'))).events;
    expect(openshiftApi).toMatchObject({ level: 'Metadata', verb: 'get' });
    const [fluentd] = split(unwrapRecords(text('openshift/fluentd_k8s_audit.json'))).events;
    expect(fluentd?.level).toBe('Metadata');
    expect(Object.keys(fluentd ?? {})).not.toContain('pipeline_metadata');
    expect(Object.keys(fluentd ?? {})).not.toContain('timestamp');
  });

  it('reports OVN and host audit records as not Kubernetes events', () => {
    expect(unwrapRecords(text('openshift/viaq_audit_ovn.json'))).toEqual([
      { format: 'openshift', reason: 'an OpenShift ovn audit record, not a Kubernetes audit event', at: '' },
    ]);
  });
});

describe('unwrapRecords: any format', () => {
  it('gives one entry per record of a mixed file: API server, GKE, AKS lines', () => {
    const lines = text('mixed/elastic-test-audit.log').trimEnd().split('\n');
    const records = lines.map((line) => unwrapRecords(line));
    expect(records.map((r) => r.length)).toEqual([1, 1, 1, 1, 1]);
    expect(records.map((r) => r[0]?.format)).toEqual(['kubernetes', 'kubernetes', 'kubernetes', 'gke', 'aks']);
    expect(records.every((r) => r[0]?.event)).toBe(true);
  });

  it('keeps an API server line byte for byte (the fast path)', () => {
    const line = text('mixed/elastic-test-audit.log').split('\n')[0] as string;
    const [record] = unwrapRecords(line);
    expect(record?.event && serializeEvent(record.event)).toBe(line);
  });

  it('reports a record of another format when one is forced', () => {
    const line = text('aks/elastic-test-kube-audit.log').trimEnd();
    expect(unwrapRecords(line, { format: 'gke' })).toEqual([
      { reason: 'not a GKE (Cloud Logging) record (it looks like AKS (Azure Monitor))', at: '' },
    ]);
    expect(unwrapRecords(line, { format: 'aks' })[0]?.event).toBeDefined();
  });

  it.each([
    ['', []],
    ['{', [{ reason: expect.stringMatching(/^not valid JSON: unexpected end of input/), at: '' }]],
    ['42', [{ reason: 'not an object', at: '' }]],
    [
      '{"kind":"Event"},{"kind":"Event"}',
      [{ reason: 'not valid JSON: unexpected data after the JSON value at position 16', at: '' }],
    ],
    ['\u0000{}', [{ reason: 'not valid JSON: unexpected character at position 0', at: '' }]],
    ['{"hello":"world"}', [{ reason: 'not an audit event, nor an EKS, AKS, GKE or OpenShift audit record', at: '' }]],
    ['{"verb":"get"}', [{ format: 'kubernetes', reason: 'invalid audit event: missing auditID', at: '' }]],
    [
      '{"events":[1,{"message":7}]}',
      [
        { format: 'eks', reason: 'no event: the message is missing or not a string', at: 'events[0].message' },
        { format: 'eks', reason: 'no event: the message is missing or not a string', at: 'events[1].message' },
      ],
    ],
    [
      '{"protoPayload":"x"}',
      [{ format: 'gke', reason: 'a Cloud Logging entry whose protoPayload is not an AuditLog', at: '' }],
    ],
    [
      '{"records":[{"properties":{}}]}',
      [{ format: 'aks', reason: 'an AKS record without properties.log', at: 'records[0]' }],
    ],
    [
      '{"log_type":"audit","auditID":"a","level":"default"}',
      [
        {
          format: 'openshift',
          reason: 'invalid audit event: level must be one of None, Metadata, Request, RequestResponse',
          at: '',
        },
      ],
    ],
    ['{"messageType":"DATA_MESSAGE"}', [{ format: 'eks', reason: 'subscription payload without logEvents', at: '' }]],
    [
      `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
      [{ reason: expect.stringMatching(/^not valid JSON: nesting deeper than 10000/), at: '' }],
    ],
  ])('reports hostile or unknown input %#, never throws', (input, expected) => {
    expect(unwrapRecords(input)).toEqual(expected);
  });

  it('keeps a cluster name from a record only if the receiver would take it as CLUSTER_NAME', () => {
    const payload = (logGroup: string) =>
      JSON.stringify({ messageType: 'DATA_MESSAGE', logGroup, logEvents: [{ message: eksMessage }] });
    expect(unwrapRecords(payload('/aws/eks/prod-eu/cluster'))[0]).toMatchObject({ cluster: 'prod-eu' });
    for (const hostile of [`/aws/eks/${'x'.repeat(254)}/cluster`, '/aws/eks/a\nb/cluster', '/aws/eks/\u0007/cluster']) {
      const [record] = unwrapRecords(payload(hostile));
      expect(record?.event).toBeDefined();
      expect(record).not.toHaveProperty('cluster');
    }
  });

  it('reads a Log Analytics row whose dynamic column nests past any limit, keeping that column as text', () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const row = {
      AuditId: 'a',
      Level: 'Metadata',
      Stage: 'ResponseComplete',
      RequestUri: '/',
      Verb: 'get',
      RequestObject: deep,
    };
    const [record] = unwrapRecords(JSON.stringify(row));
    expect(record?.event?.get('requestObject')).toBe(deep);
  });

  it("reports a GKE entry whose body nests to the scanner's limit, without throwing", () => {
    const deep = `${'['.repeat(9_990)}${']'.repeat(9_990)}`;
    const entry = `{"insertId":"x","protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","serviceName":"k8s.io","methodName":"io.k8s.get","resourceName":"readyz","request":{"a":${deep}}}}`;
    const records = unwrapRecords(entry);
    expect(records).toHaveLength(1);
    expect(records[0]?.event).toBeUndefined();
    // JSON.stringify overflows the stack first, or the scanner refuses the rebuilt event: both are reported.
    expect(records[0]?.reason).toMatch(/^(nested too deeply to read|entry: .*nesting deeper than 10000)/);
  });

  it('never puts the content of a record in a reason', () => {
    const secret = 'hunter2-secret-value';
    const inputs = [
      `{"events":[{"message":"${secret} not json"}]}`,
      `{"category":"${secret}","properties":{"log":"x"}}`,
      `{"records":[{"properties":{"log":"{\\"verb\\":\\"${secret}\\"}"}}]}`,
    ];
    for (const input of inputs)
      for (const r of unwrapRecords(input)) if (!r.event) expect(r.reason).not.toContain(secret);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FIXTURES, REAL, realFixtureFiles } from '../../../test/support/fixtures';
import { parsePayload } from './parse';
import { createPipeline, type PipelineOptions } from './pipeline';
import { createPolicyChecker, parsePolicy, policyRequestOf } from './policy';
import { maskExecCommands } from './redact';
import type { Level, Stage } from './schema';

type Json = Record<string, unknown>;
const base = (fields: Json = {}): Json => ({
  level: 'RequestResponse',
  auditID: 'a1',
  stage: 'ResponseComplete',
  requestURI: '/api/v1/namespaces/default/pods/p1',
  verb: 'get',
  user: { username: 'alice', groups: ['system:authenticated'] },
  objectRef: { resource: 'pods', namespace: 'default', name: 'p1', apiVersion: 'v1' },
  ...fields,
});
const list = (items: unknown[]) =>
  JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items });

function run(items: unknown[], options: PipelineOptions = {}, cluster?: string) {
  const result = createPipeline({ dedupeCacheSize: 0, ...options }).process(parsePayload(list(items)), { cluster });
  return {
    result,
    out: result.lines
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Json),
  };
}

describe('createPipeline', () => {
  it('writes an event no step changes byte for byte', () => {
    const text = list([base({ requestObject: { n: 'BIG', f: 'ONE' } })])
      .replace('"BIG"', '9007199254740993')
      .replace('"ONE"', '1.0');
    const { lines } = createPipeline().process(parsePayload(text));
    const item = text.slice(text.indexOf('"items":[') + 10, -2);
    expect(lines).toBe(`{"kind":"Event","apiVersion":"audit.k8s.io/v1",${item}\n`);
  });

  it('counts what it received, wrote, dropped and found invalid', () => {
    const pipeline = createPipeline({ policy: parsePolicy(policyYaml('Metadata', { verbs: ['get'] })).policy });
    const payload = parsePayload(list([base(), base({ auditID: 'b', verb: 'list' }), { nope: 1 }, base()]));
    const result = pipeline.process(payload);
    expect(result).toMatchObject({ received: 4, written: 1, dropped: { policy: 1, duplicate: 1 }, invalid: 1 });
  });
});

function policyYaml(level: Level, selector: Json = {}, extra: Json = {}): string {
  return JSON.stringify({ apiVersion: 'audit.k8s.io/v1', kind: 'Policy', ...extra, rules: [{ level, ...selector }] });
}

describe('output', () => {
  const decode = (chunks: readonly Uint8Array[]) => chunks.map((chunk) => new TextDecoder().decode(chunk)).join('');
  const items = (n: number, fields: Json = {}) =>
    Array.from({ length: n }, (_, i) => base({ auditID: `a${i}`, ...fields }));

  it('gives the lines as UTF-8 bytes, whole lines per piece, the same as `lines`', () => {
    const result = createPipeline().process(parsePayload(list(items(3, { userAgent: 'é € 😀' }))));
    expect(decode(result.chunks)).toBe(result.lines);
    for (const chunk of result.chunks) expect(chunk[chunk.length - 1]).toBe(10);
    expect(result.lines.split('\n')).toHaveLength(4);
  });

  it('copies a log line that already opens with kind and apiVersion, and rebuilds one that does not', () => {
    const line = JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...base() });
    expect(createPipeline().process(parsePayload(line)).lines).toBe(`${line}\n`);
    // apiVersion first, or a second kind: the line starts with the prefix all the same.
    const swapped = JSON.stringify({ apiVersion: 'audit.k8s.io/v1', kind: 'Event', ...base() });
    expect(createPipeline().process(parsePayload(swapped)).lines).toBe(`${line}\n`);
    const twice = line.replace('"level"', '"kind":"Event","level"');
    expect(createPipeline().process(parsePayload(twice)).lines).toBe(`${line}\n`);
  });

  it('writes into the memory it is given, and the same memory serves the next batch once written', () => {
    const pipeline = createPipeline({ dedupeCacheSize: 0 });
    const output = new Uint8Array(4096);
    const first = pipeline.process(parsePayload(list(items(2))), { output });
    expect(first.chunks[0]?.buffer).toBe(output.buffer);
    const firstText = decode(first.chunks);
    expect(firstText).toBe(createPipeline().process(parsePayload(list(items(2)))).lines);
    const second = pipeline.process(parsePayload(list(items(2, { verb: 'list' }))), { output });
    expect(second.chunks[0]?.buffer).toBe(output.buffer);
    expect(decode(second.chunks)).toContain('"verb":"list"');
    // Past its size, the lines go on in new pieces.
    const many = pipeline.process(parsePayload(list(items(40))), { output });
    expect(many.chunks.length).toBeGreaterThan(1);
    expect(decode(many.chunks)).toBe(createPipeline().process(parsePayload(list(items(40)))).lines);
  });
});

describe('policy step', () => {
  const vectors = JSON.parse(readFileSync(`${FIXTURES}policy-vectors.json`, 'utf8'));
  type Req = {
    user: { name: string; groups?: string[] } | null;
    verb: string;
    namespace: string;
    apiGroup: string;
    apiVersion: string;
    resource: string;
    subresource: string;
    name: string;
    resourceRequest: boolean;
    path: string;
  };
  /** The audit event the API server would write for a request of the test table. */
  const eventOf = (request: Req, stage: Stage): Json => {
    const objectRef: Json = {};
    if (request.resource) objectRef.resource = request.resource;
    if (request.namespace) objectRef.namespace = request.namespace;
    if (request.name) objectRef.name = request.name;
    if (request.apiGroup) objectRef.apiGroup = request.apiGroup;
    if (request.apiVersion) objectRef.apiVersion = request.apiVersion;
    if (request.subresource) objectRef.subresource = request.subresource;
    return {
      level: 'RequestResponse',
      auditID: 'id',
      stage,
      // The policy takes the name from the URL, as the API server's RequestInfo does.
      requestURI: request.path,
      verb: request.verb,
      user: request.user ? { username: request.user.name, groups: request.user.groups } : {},
      ...(request.resourceRequest ? { objectRef } : {}),
      requestObject: { kind: 'Pod' },
      responseObject: { kind: 'Pod' },
    };
  };
  const rank = { None: 0, Metadata: 1, Request: 2, RequestResponse: 3 };
  const cases = [
    ...vectors.cases.map((c: Json) => ({ ...c, request: vectors.requests[c.request as string] })),
    ...vectors.derivedCases,
  ] as {
    id?: string;
    description?: string;
    request: Req;
    policy: Json;
    expected: { level: Level; omitStages?: Stage[] };
  }[];

  it.each(cases.map((c) => [c.id ?? c.description, c] as const))('%s', (_name, c) => {
    const policy = {
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      omitStages: c.policy.omitStages,
      rules: c.policy.rules,
    };
    const { policy: parsed } = parsePolicy(JSON.stringify(policy));
    for (const stage of ['RequestReceived', 'ResponseComplete'] as const) {
      const { out, result } = run([eventOf(c.request, stage)], { policy: parsed });
      const omitted =
        c.expected.omitStages?.includes(stage) ||
        (!c.expected.omitStages && (c.policy.omitStages as string[]).includes(stage));
      if (c.expected.level === 'None' || omitted) {
        expect(out).toEqual([]);
        expect(result.dropped.policy).toBe(1);
        continue;
      }
      expect(out).toHaveLength(1);
      const line = out[0] as Json;
      expect(line.level).toBe(c.expected.level);
      expect('requestObject' in line).toBe(rank[c.expected.level] >= rank.Request);
      expect('responseObject' in line).toBe(rank[c.expected.level] >= rank.RequestResponse);
    }
  });

  it('decides repeated requests alike and tells different users, verbs and objects apart', () => {
    const { policy } = parsePolicy(
      policyYaml('None', { users: ['alice'], verbs: ['get'], resources: [{ resources: ['pods'] }] }),
    );
    const withCatchAll = { ...policy, rules: [...policy.rules, { level: 'Metadata' as const }] };
    const pipeline = createPipeline({ policy: withCatchAll, dedupeCacheSize: 0 });
    const alice = { username: 'alice', groups: ['system:authenticated'] };
    const events = [
      base({ user: alice }),
      base({ user: { username: 'bob' } }),
      base({ user: alice, verb: 'list' }),
      base({ user: alice, objectRef: { resource: 'configmaps', namespace: 'default', name: 'p1', apiVersion: 'v1' } }),
      base({ user: alice }),
    ];
    for (let round = 0; round < 2; round++) {
      const result = pipeline.process(parsePayload(list(events)));
      expect(result.dropped.policy).toBe(2);
      expect(
        result.lines
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line).user.username),
      ).toEqual(['bob', 'alice', 'alice']);
    }
  });

  it('decides a request with "objectRef": null by its path, not by the last one cached', () => {
    // A null objectRef is a non-resource request (policyRequestOf; the API server's RequestInfo has
    // IsResourceRequest false and matches nonResourceURLs against the path: k8s.io/apiserver
    // pkg/audit/policy/checker.go ruleMatchesNonResource / ruleMatchesResource).
    const { policy } = parsePolicy(
      JSON.stringify({
        apiVersion: 'audit.k8s.io/v1',
        kind: 'Policy',
        rules: [{ level: 'None', nonResourceURLs: ['/healthz'] }, { level: 'Metadata' }],
      }),
    );
    const pipeline = createPipeline({ policy, dedupeCacheSize: 0 });
    const nonResource = (requestURI: string) => base({ requestURI, objectRef: null, level: 'Metadata' });
    const result = pipeline.process(
      parsePayload(list([nonResource('/healthz'), nonResource('/api/v1/namespaces/kube-system/secrets/admin-token')])),
    );
    expect(result.dropped.policy).toBe(1);
    expect(JSON.parse(result.lines).requestURI).toBe('/api/v1/namespaces/kube-system/secrets/admin-token');
  });

  // k8s.io/apiserver v0.37: checker.go matches resourceNames against attrs.GetName(), the name in the
  // URL (pkg/endpoints/request/requestinfo.go), "" for a create; pkg/audit/request.go LogRequestObject
  // fills objectRef.name from the body after the decision, so both stages of a create are decided alike.
  it('matches resourceNames against the name in the request URL, not objectRef.name from the body', () => {
    const { policy } = parsePolicy(
      JSON.stringify({
        apiVersion: 'audit.k8s.io/v1',
        kind: 'Policy',
        rules: [
          { level: 'None', resources: [{ group: '', resources: ['configmaps'], resourceNames: ['noisy'] }] },
          { level: 'Metadata' },
        ],
      }),
    );
    const collection = '/api/v1/namespaces/default/configmaps';
    const create = (stage: Stage, objectRef: Json) =>
      base({ auditID: `create-${stage}`, stage, verb: 'create', requestURI: collection, objectRef });
    const ref = { resource: 'configmaps', namespace: 'default', apiVersion: 'v1' };
    const events = [
      create('RequestReceived', ref),
      create('ResponseComplete', { ...ref, name: 'noisy', uid: 'u1' }),
      base({ auditID: 'get', verb: 'get', requestURI: `${collection}/noisy`, objectRef: { ...ref, name: 'noisy' } }),
      base({
        auditID: 'watch',
        verb: 'watch',
        requestURI: `${collection}?fieldSelector=metadata.name%3Dnoisy&watch=1`,
        objectRef: { ...ref, name: 'noisy' },
      }),
      base({ auditID: 'list', verb: 'list', requestURI: collection, objectRef: ref }),
    ];
    const pipeline = createPipeline({ policy, dedupeCacheSize: 0 });
    // twice: the second round is answered from the decision cache
    for (let round = 0; round < 2; round++) {
      const result = pipeline.process(parsePayload(list(events)));
      expect(result.events.map((event) => event.auditID)).toEqual([
        'create-RequestReceived',
        'create-ResponseComplete',
        'list',
      ]);
    }
    const check = createPolicyChecker(policy);
    expect(events.map((event) => check(policyRequestOf(event)).level)).toEqual([
      'Metadata',
      'Metadata',
      'None',
      'None',
      'Metadata',
    ]);
  });

  describe('decides both stages of a request alike (request-name-vectors.json)', () => {
    const { policyCases } = JSON.parse(readFileSync(`${FIXTURES}request-name-vectors.json`, 'utf8')) as {
      policyCases: { description: string; policy: Json; events: (Json & { expectedLevel: Level })[] }[];
    };
    it.each(policyCases)('$description', ({ policy, events }) => {
      const { policy: parsed } = parsePolicy(JSON.stringify(policy));
      const check = createPolicyChecker(parsed);
      const pipeline = createPipeline({ policy: parsed, dedupeCacheSize: 0 });
      for (const { expectedLevel, ...fields } of events) {
        const event = base({ level: 'Metadata', ...fields });
        expect(check(policyRequestOf(event)).level).toBe(expectedLevel);
        expect(pipeline.process(parsePayload(list([event]))).written).toBe(expectedLevel === 'None' ? 0 : 1);
      }
    });
  });

  it('never raises an event’s level', () => {
    const { policy } = parsePolicy(policyYaml('RequestResponse'));
    const { out } = run([base({ level: 'Metadata' })], { policy });
    expect(out[0]?.level).toBe('Metadata');
  });

  it('removes managedFields from bodies and list items when the policy omits them', () => {
    const { policy } = parsePolicy(policyYaml('RequestResponse', {}, { omitManagedFields: true }));
    const managed = { name: 'p', managedFields: [{ manager: 'kubectl' }], labels: { a: 'b' } };
    const { out } = run(
      [
        base({
          requestObject: { metadata: managed, spec: {} },
          responseObject: { kind: 'PodList', items: [{ metadata: managed }] },
        }),
      ],
      { policy },
    );
    expect(out[0]?.requestObject).toEqual({ metadata: { name: 'p', labels: { a: 'b' } }, spec: {} });
    expect(out[0]?.responseObject).toEqual({
      kind: 'PodList',
      items: [{ metadata: { name: 'p', labels: { a: 'b' } } }],
    });
  });
});

describe('omitManagedFields', () => {
  const vectors = JSON.parse(readFileSync(`${FIXTURES}managed-fields-vectors.json`, 'utf8')) as {
    cases: { description: string; verb: string; field: string; input: unknown; expected: unknown }[];
  };
  const { policy } = parsePolicy(policyYaml('RequestResponse', {}, { omitManagedFields: true }));
  it.each(vectors.cases)('$description', ({ verb, field, input, expected }) => {
    const { out } = run([base({ verb, [field]: input })], { policy });
    expect(out[0]?.[field]).toEqual(expected);
  });

  it('changes nothing when the decision keeps managedFields', () => {
    const { policy: keep } = parsePolicy(policyYaml('RequestResponse', {}, { omitManagedFields: false }));
    for (const { verb, field, input } of vectors.cases) {
      const { out } = run([base({ verb, [field]: input })], { policy: keep });
      expect(out[0]?.[field]).toEqual(input);
    }
  });
});

describe('redaction step', () => {
  const secretRef = { resource: 'secrets', namespace: 'default', name: 's1', apiVersion: 'v1' };
  const lastApplied = 'kubectl.kubernetes.io/last-applied-configuration';
  const secret = {
    kind: 'Secret',
    apiVersion: 'v1',
    metadata: { name: 's1', annotations: { [lastApplied]: '{"data":{"password":"c2VjcmV0"}}', keep: 'me' } },
    data: { password: 'c2VjcmV0', token: 'dG9rZW4=' },
    stringData: { plain: 'secret' },
    type: 'Opaque',
  };
  const redactedSecret = {
    ...secret,
    metadata: { name: 's1', annotations: { [lastApplied]: '[REDACTED]', keep: 'me' } },
    data: { password: '[REDACTED]', token: '[REDACTED]' },
    stringData: { plain: '[REDACTED]' },
  };

  it.each(['create', 'update', 'patch'])('redacts Secret values on %s, request and response, keys kept', (verb) => {
    const event = base({ verb, objectRef: secretRef, requestObject: secret, responseObject: secret });
    const { out, result } = run([event]);
    expect(out[0]).toEqual({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      ...event,
      requestObject: redactedSecret,
      responseObject: redactedSecret,
      annotations: { 'kube-audit/redacted': 'true' },
    });
    expect(result.redacted).toBe(1);
  });

  it('counts a Secret event redacted once, not again when its retry is dropped as a duplicate', () => {
    const pipeline = createPipeline();
    const body = list([base({ objectRef: secretRef, requestObject: secret })]);
    expect(pipeline.process(parsePayload(body)).redacted).toBe(1);
    const retry = pipeline.process(parsePayload(body));
    expect(retry).toMatchObject({ written: 0, redacted: 0, dropped: { duplicate: 1 } });
  });

  it('redacts each Secret of a list response, and Secrets found by their kind under another resource', () => {
    const { kind: _k, apiVersion: _a, ...item } = secret;
    const { out } = run([
      base({
        verb: 'list',
        objectRef: { resource: 'secrets', namespace: 'default' },
        responseObject: { kind: 'SecretList', items: [item, item] },
      }),
      base({ objectRef: { resource: 'things', apiGroup: 'x.io' }, responseObject: secret }),
    ]);
    const { kind: _k2, apiVersion: _a2, ...redactedItem } = redactedSecret;
    expect((out[0] as Json).responseObject).toMatchObject({ kind: 'SecretList' });
    expect(((out[0] as Json).responseObject as Json).items).toEqual([redactedItem, redactedItem]);
    expect(out[1]?.responseObject).toEqual(redactedSecret);
  });

  it('redacts Secrets in Table rows, as `kubectl get secrets` asks for them', () => {
    // k8s.io/apimachinery pkg/apis/meta/v1 types.go: Table{metadata, columnDefinitions, rows} and
    // TableRow{cells, conditions, object}; `object` is a PartialObjectMetadata (includeObject=
    // Metadata, kubectl's default) or the whole object (includeObject=Object).
    const { kind: _k, apiVersion: _a, ...plain } = secret;
    const partial = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: secret.metadata };
    const table = (objects: unknown[]) => ({
      kind: 'Table',
      apiVersion: 'meta.k8s.io/v1',
      metadata: { resourceVersion: '42' },
      columnDefinitions: [{ name: 'Name', type: 'string', format: 'name', description: 'Name', priority: 0 }],
      rows: objects.map((object) => ({ cells: ['s1', 'Opaque', 2, '5d'], object })),
    });
    const listSecrets = {
      verb: 'list',
      requestURI: '/api/v1/namespaces/default/secrets?limit=500',
      objectRef: { resource: 'secrets', namespace: 'default', apiVersion: 'v1' },
    };
    const { out } = run([
      base({ ...listSecrets, responseObject: table([partial, secret, plain]) }),
      // The same Table found by its rows' kinds, whatever the objectRef says.
      base({ responseObject: table([secret]) }),
    ]);
    const redactedPartial = { ...partial, metadata: redactedSecret.metadata };
    const { kind: _k2, apiVersion: _a2, ...redactedPlain } = redactedSecret;
    expect(out[0]?.responseObject).toEqual(table([redactedPartial, redactedSecret, redactedPlain]));
    expect(out[1]?.responseObject).toEqual(table([redactedSecret]));
    expect(out.map((line) => (line.annotations as Json)['kube-audit/redacted'])).toEqual(['true', 'true']);
  });

  it('redacts the object of watch events, and Secrets inside a List of other kinds', () => {
    // metav1.WatchEvent{type, object} (pkg/apis/meta/v1 watch.go); a v1 List holds any kinds.
    const { out } = run([
      base({ verb: 'watch', objectRef: secretRef, responseObject: { type: 'ADDED', object: secret } }),
      base({ verb: 'watch', responseObject: { type: 'MODIFIED', object: secret } }),
      base({
        responseObject: { kind: 'List', apiVersion: 'v1', items: [{ kind: 'ConfigMap', data: { a: 'b' } }, secret] },
      }),
    ]);
    expect(out[0]?.responseObject).toEqual({ type: 'ADDED', object: redactedSecret });
    expect(out[1]?.responseObject).toEqual({ type: 'MODIFIED', object: redactedSecret });
    expect(out[2]?.responseObject).toEqual({
      kind: 'List',
      apiVersion: 'v1',
      items: [{ kind: 'ConfigMap', data: { a: 'b' } }, redactedSecret],
    });
  });

  it('takes a body of containers nested thousands deep without running out of stack', () => {
    // Real containers nest one level (a row's object, a list's item, a watch event's object); the
    // search stops a few levels down, so a hostile body costs no recursion.
    const body = `${'{"type":"ADDED","object":'.repeat(5000)}${JSON.stringify(secret)}${'}'.repeat(5000)}`;
    for (const objectRef of [secretRef, base().objectRef]) {
      const text = list([base({ objectRef, responseObject: 'BODY' })]).replace('"BODY"', body);
      const result = createPipeline().process(parsePayload(text));
      expect(result).toMatchObject({ written: 1, invalid: 0 });
    }
  });

  it('redacts json-patch ops that write a whole Secret (path "") and token patches', () => {
    // RFC 6901: "" is the whole document; RFC 6902 `test` ops carry a value too.
    const patch = [
      { op: 'replace', path: '', value: secret },
      { op: 'test', path: '/data/password', value: 'c2VjcmV0' },
      { op: 'move', from: '/data/a', path: '/data/b' },
    ];
    const { out } = run([
      base({ verb: 'patch', objectRef: secretRef, requestObject: patch }),
      base({
        verb: 'create',
        objectRef: { resource: 'tokenreviews', apiGroup: 'authentication.k8s.io', apiVersion: 'v1' },
        requestObject: [
          { op: 'add', path: '/spec/token', value: 'eyJhbGciOi' },
          { op: 'add', path: '/spec', value: { token: 'eyJhbGciOi', audiences: ['api'] } },
        ],
      }),
    ]);
    expect(out[0]?.requestObject).toEqual([
      { op: 'replace', path: '', value: redactedSecret },
      { op: 'test', path: '/data/password', value: '[REDACTED]' },
      { op: 'move', from: '/data/a', path: '/data/b' },
    ]);
    expect(out[1]?.requestObject).toEqual([
      { op: 'add', path: '/spec/token', value: '[REDACTED]' },
      { op: 'add', path: '/spec', value: { token: '[REDACTED]', audiences: ['api'] } },
    ]);
  });

  it('redacts the values of mutating-webhook patch annotations on Secrets', () => {
    // k8s.io/apiserver pkg/admission/plugin/webhook/mutating/dispatcher.go: the annotation
    // `patch.webhook.admission.k8s.io/round_<r>_index_<i>` holds the JSON of
    // PatchAuditAnnotation{configuration, webhook, patch, patchType}, logged at level >= Request.
    const value = (patch: unknown) =>
      JSON.stringify({ configuration: 'inject', webhook: 'inject.example.com', patch, patchType: 'JSONPatch' });
    const annotations = {
      'patch.webhook.admission.k8s.io/round_0_index_0': value([
        { op: 'add', path: '/data/injected', value: 'c2VjcmV0' },
        { op: 'add', path: '/metadata/labels/x', value: 'y' },
      ]),
      'patch.webhook.admission.k8s.io/round_1_index_2': value([{ op: 'replace', path: '', value: secret }]),
      'patch.webhook.admission.k8s.io/round_0_index_3': '{not json',
      'mutation.webhook.admission.k8s.io/round_0_index_0':
        '{"configuration":"inject","webhook":"inject.example.com","mutated":true}',
    };
    const event = base({ verb: 'create', objectRef: secretRef, annotations });
    const expected = {
      ...annotations,
      'patch.webhook.admission.k8s.io/round_0_index_0': value([
        { op: 'add', path: '/data/injected', value: '[REDACTED]' },
        { op: 'add', path: '/metadata/labels/x', value: 'y' },
      ]),
      'patch.webhook.admission.k8s.io/round_1_index_2': value([{ op: 'replace', path: '', value: redactedSecret }]),
      'patch.webhook.admission.k8s.io/round_0_index_3': '[REDACTED]',
      'kube-audit/redacted': 'true',
    };
    expect(run([event]).out[0]?.annotations).toEqual(expected);
    // A receiver Policy that lowers the level below Request drops them, as the API server logs
    // them only at level >= Request (AddAnnotationWithLevel(…, LevelRequest) in dispatcher.go).
    const { policy } = parsePolicy(policyYaml('Metadata'));
    expect(run([event], { policy }).out[0]?.annotations).toEqual({
      'mutation.webhook.admission.k8s.io/round_0_index_0':
        annotations['mutation.webhook.admission.k8s.io/round_0_index_0'],
    });
    // The same annotation on a ConfigMap is no credential.
    const configMap = base({ verb: 'create', annotations });
    expect(run([configMap]).out[0]?.annotations).toEqual(annotations);
  });

  it('redacts json-patch values written under /data', () => {
    const patch = [
      { op: 'replace', path: '/data/password', value: 'bmV3' },
      { op: 'add', path: '/data', value: { a: 'YQ==' } },
      { op: 'replace', path: '/metadata/labels/x', value: 'y' },
    ];
    const { out } = run([base({ verb: 'patch', objectRef: secretRef, requestObject: patch })]);
    expect(out[0]?.requestObject).toEqual([
      { op: 'replace', path: '/data/password', value: '[REDACTED]' },
      { op: 'add', path: '/data', value: { a: '[REDACTED]' } },
      { op: 'replace', path: '/metadata/labels/x', value: 'y' },
    ]);
  });

  it('redacts TokenRequest status.token and TokenReview spec.token', () => {
    const { out } = run([
      base({
        verb: 'create',
        objectRef: {
          resource: 'serviceaccounts',
          subresource: 'token',
          namespace: 'default',
          name: 'sa',
          apiVersion: 'v1',
        },
        requestObject: { kind: 'TokenRequest', spec: { audiences: ['api'] } },
        responseObject: {
          kind: 'TokenRequest',
          spec: { audiences: ['api'] },
          status: { token: 'eyJhbGciOi', expirationTimestamp: 'x' },
        },
      }),
      base({
        verb: 'create',
        objectRef: { resource: 'tokenreviews', apiGroup: 'authentication.k8s.io', apiVersion: 'v1' },
        requestObject: { kind: 'TokenReview', spec: { token: 'eyJhbGciOi' } },
        responseObject: { kind: 'TokenReview', spec: { token: 'eyJhbGciOi' }, status: { authenticated: true } },
      }),
    ]);
    expect(out[0]?.requestObject).toEqual({ kind: 'TokenRequest', spec: { audiences: ['api'] } });
    expect(out[0]?.responseObject).toEqual({
      kind: 'TokenRequest',
      spec: { audiences: ['api'] },
      status: { token: '[REDACTED]', expirationTimestamp: 'x' },
    });
    expect(out[1]?.requestObject).toEqual({ kind: 'TokenReview', spec: { token: '[REDACTED]' } });
    expect(out[1]?.responseObject).toEqual({
      kind: 'TokenReview',
      spec: { token: '[REDACTED]' },
      status: { authenticated: true },
    });
  });

  it('masks exec commands only when asked', () => {
    const uri =
      '/api/v1/namespaces/default/pods/p1/exec?command=sh&command=-c&command=cat%20%2Fetc%2Fshadow&container=c&stdin=true';
    const exec = base({
      verb: 'create',
      requestURI: uri,
      objectRef: { ...secretRef, resource: 'pods', subresource: 'exec' },
    });
    expect(run([exec]).out[0]?.requestURI).toBe(uri);
    const { out } = run([exec], { redactExecCommands: true });
    expect(out[0]?.requestURI).toBe(
      '/api/v1/namespaces/default/pods/p1/exec?command=[REDACTED]&command=[REDACTED]&command=[REDACTED]&container=c&stdin=true',
    );
    expect(out[0]?.annotations).toEqual({ 'kube-audit/redacted': 'true' });
  });

  it('masks exec commands whose parameter name or path is percent-encoded, as Go decodes them', () => {
    // kube-apiserver reads exec options from req.URL.Query(): Go's url.ParseQuery (net/url url.go
    // parseQuery) decodes each name with QueryUnescape, so comm%61nd=… and %63ommand=… are
    // `command`, while command+=… is "command " (a `+` is a space) and c%6=… an invalid escape,
    // which ParseQuery skips. Paths are matched decoded (PathUnescape) and with a trailing slash.
    const exec = (requestURI: string, subresource = 'exec') =>
      base({ verb: 'create', requestURI, objectRef: { resource: 'pods', namespace: 'd', name: 'p', subresource } });
    const uris = [
      '/api/v1/namespaces/d/pods/p/exec?comm%61nd=cat&%63%6F%6D%6D%61%6E%64=%2Fetc%2Fshadow&command+=x&c%6=y',
      '/api/v1/namespaces/d/pods/p/ex%65c?command=id',
      '/api/v1/namespaces/d/pods/p/attach/?command=id',
    ];
    const { out } = run(
      [...uris.map((uri) => exec(uri)), exec('/api/v1/namespaces/d/pods/p/portforward?command=keep', 'portforward')],
      { redactExecCommands: true },
    );
    expect(out.map((line) => line.requestURI)).toEqual([
      '/api/v1/namespaces/d/pods/p/exec?comm%61nd=[REDACTED]&%63%6F%6D%6D%61%6E%64=[REDACTED]&command+=x&c%6=y',
      '/api/v1/namespaces/d/pods/p/ex%65c?command=[REDACTED]',
      '/api/v1/namespaces/d/pods/p/attach/?command=[REDACTED]',
      '/api/v1/namespaces/d/pods/p/portforward?command=keep',
    ]);
    // The objectRef's subresource decides too, whatever the path looks like.
    expect(run([exec('/weird/path?command=id')], { redactExecCommands: true }).out[0]?.requestURI).toBe(
      '/weird/path?command=[REDACTED]',
    );
    expect(maskExecCommands('/api/v1/namespaces/d/pods/p/exec?comm%61nd=id')).toBe(
      '/api/v1/namespaces/d/pods/p/exec?comm%61nd=[REDACTED]',
    );
  });

  it('changes nothing else in the event, and nothing at all with REDACT=off', () => {
    const event = base({
      objectRef: secretRef,
      requestObject: secret,
      annotations: { 'authorization.k8s.io/decision': 'allow' },
    });
    const { out } = run([event]);
    expect({ ...out[0], requestObject: undefined, annotations: undefined }).toEqual({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      ...event,
      requestObject: undefined,
      annotations: undefined,
    });
    expect(out[0]?.annotations).toEqual({ 'authorization.k8s.io/decision': 'allow', 'kube-audit/redacted': 'true' });
    expect(run([event], { redact: false }).out[0]).toEqual({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...event });
  });

  it('redacts the real Falco Secret and ConfigMap traces only where they hold Secrets', () => {
    for (const file of realFixtureFiles()) {
      const { out } = run(file.events.map(({ kind: _k, apiVersion: _a, ...e }) => e));
      for (const line of out) {
        const isSecret = (line.objectRef as Json | undefined)?.resource === 'secrets';
        const hasBody = 'requestObject' in line || 'responseObject' in line;
        if (!isSecret || !hasBody)
          expect((line.annotations as Json | undefined)?.['kube-audit/redacted']).toBeUndefined();
      }
    }
  });
});

describe('dedupe step', () => {
  it('writes a batch posted twice once', () => {
    const pipeline = createPipeline();
    const body = list([base(), base({ auditID: 'a2' })]);
    expect(pipeline.process(parsePayload(body)).written).toBe(2);
    const again = pipeline.process(parsePayload(body));
    expect(again.written).toBe(0);
    expect(again.dropped.duplicate).toBe(2);
  });

  it('writes an event that reuses a remembered (auditID, stage) but differs from it', () => {
    // kube-apiserver takes the client's Audit-ID header as the auditID unchanged (withAuditInit,
    // k8s.io/apiserver pkg/endpoints/filters/audit_init.go): a client picks it, so it is no key.
    const pipeline = createPipeline();
    const harmless = base({ auditID: 'chosen', requestURI: '/api/v1/namespaces/default/configmaps/x' });
    const secretRead = base({
      auditID: 'chosen',
      requestURI: '/api/v1/namespaces/kube-system/secrets/admin-token',
      objectRef: { resource: 'secrets', namespace: 'kube-system', name: 'admin-token', apiVersion: 'v1' },
    });
    expect(pipeline.process(parsePayload(list([harmless]))).written).toBe(1);
    const second = pipeline.process(parsePayload(list([secretRead])));
    expect(second).toMatchObject({ written: 1, dropped: { duplicate: 0 } });
    expect(JSON.parse(second.lines).requestURI).toBe('/api/v1/namespaces/kube-system/secrets/admin-token');
    // One byte apart is another event too; the very same bytes, in another batch, are a re-send.
    expect(pipeline.process(parsePayload(list([{ ...harmless, verb: 'gat' }]))).written).toBe(1);
    const resent = pipeline.process(parsePayload(list([base({ auditID: 'other' }), secretRead])));
    expect(resent).toMatchObject({ written: 1, dropped: { duplicate: 1 } });
  });

  it('tells the same item apart under another apiVersion of its list', () => {
    const pipeline = createPipeline();
    const body = list([base()]);
    expect(pipeline.process(parsePayload(body)).written).toBe(1);
    expect(pipeline.process(parsePayload(body.replace('audit.k8s.io/v1', 'audit.k8s.io/v1beta1'))).written).toBe(1);
  });

  it('passes two stages of one request', () => {
    const result = createPipeline().process(parsePayload(list([base({ stage: 'RequestReceived' }), base()])));
    expect(result.written).toBe(2);
  });

  it('forgets a released batch so its retry is written', () => {
    const pipeline = createPipeline();
    const body = list([base()]);
    pipeline.release(pipeline.process(parsePayload(body)));
    expect(pipeline.process(parsePayload(body)).written).toBe(1);
  });

  it('remembers at most its capacity, oldest first out', () => {
    const pipeline = createPipeline({ dedupeCacheSize: 2 });
    for (const id of ['x', 'y', 'z']) pipeline.process(parsePayload(list([base({ auditID: id })])));
    expect(pipeline.process(parsePayload(list([base({ auditID: 'x' })]))).written).toBe(1);
    expect(pipeline.process(parsePayload(list([base({ auditID: 'z' })]))).written).toBe(0);
  });
});

describe('enrichment step', () => {
  it('adds the cluster annotation, and the batch’s cluster wins over the configured one', () => {
    const event = base({ annotations: { 'authorization.k8s.io/decision': 'allow' } });
    expect(run([event], { cluster: 'env' }).out[0]?.annotations).toEqual({
      'authorization.k8s.io/decision': 'allow',
      'kube-audit/cluster': 'env',
    });
    expect(run([event], { cluster: 'env' }, 'path').out[0]?.annotations).toMatchObject({
      'kube-audit/cluster': 'path',
    });
    expect(run([base()], {}, 'c').out[0]?.annotations).toEqual({ 'kube-audit/cluster': 'c' });
  });
});

describe('truncation step', () => {
  it('drops the bodies of an event over the cap and marks it', () => {
    const event = base({ requestObject: { blob: 'x'.repeat(5000) }, responseObject: { ok: true } });
    const { out, result } = run([event], { maxEventBytes: 2000 });
    expect(result.truncated).toBe(1);
    expect(out[0]).toEqual({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      ...base(),
      annotations: { 'audit.k8s.io/truncated': 'true' },
    });
  });

  it('counts bytes, not characters', () => {
    const event = base({ requestObject: { s: 'é'.repeat(900) } });
    expect(run([event], { maxEventBytes: 1500 }).result.truncated).toBe(1);
    expect(run([event], { maxEventBytes: 3000 }).result.truncated).toBe(0);
  });

  it('cuts a huge event without bodies down to who did what, shortening long strings, instead of dropping it', () => {
    const event = base({
      userAgent: 'u'.repeat(5000),
      user: { username: 'alice', groups: ['g'], extra: { a: ['b'] } },
      responseStatus: { metadata: {}, code: 403, message: 'm'.repeat(3000) },
      annotations: { big: 'x'.repeat(3000) },
      requestReceivedTimestamp: '2026-11-27T05:00:00.000000Z',
      stageTimestamp: '2026-11-27T05:00:00.000001Z',
    });
    const { out } = run([event], { maxEventBytes: 1000, cluster: 'c1' });
    expect(out[0]).toEqual({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'RequestResponse',
      auditID: 'a1',
      stage: 'ResponseComplete',
      requestURI: '/api/v1/namespaces/default/pods/p1',
      verb: 'get',
      user: { username: 'alice', groups: ['g'] },
      userAgent: expect.stringMatching(/^u+\[\.\.\.\d+ bytes cut\]$/),
      objectRef: { resource: 'pods', namespace: 'default', name: 'p1', apiVersion: 'v1' },
      responseStatus: { code: 403 },
      requestReceivedTimestamp: '2026-11-27T05:00:00.000000Z',
      stageTimestamp: '2026-11-27T05:00:00.000001Z',
      annotations: { 'kube-audit/cluster': 'c1', 'audit.k8s.io/truncated': 'true', 'kube-audit/cut': 'true' },
    });
  });

  it('does nothing with a cap of 0', () => {
    expect(run([base({ requestObject: { blob: 'x'.repeat(300_000) } })], { maxEventBytes: 0 }).result.truncated).toBe(
      0,
    );
  });
});

describe('the real fixtures through the default pipeline', () => {
  it('with the Falco policy, writes exactly what the rules call for', () => {
    const { policy } = parsePolicy(readFileSync(`${REAL}policies/falco-k8saudit-audit-policy.yaml`, 'utf8'));
    const check = createPolicyChecker(policy);
    let kept = 0;
    let dropped = 0;
    for (const file of realFixtureFiles()) {
      const events = file.events.map(({ kind: _k, apiVersion: _a, ...e }) => e);
      const { out, result } = run(events, { policy });
      const expected = events.flatMap((event) => {
        const decision = check(policyRequestOf(event));
        if (decision.level === 'None' || decision.omitStages.has(event.stage as Stage)) return [];
        const level = rankOf(decision.level) < rankOf(event.level as Level) ? decision.level : event.level;
        const line: Json = { kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...event, level };
        if (rankOf(level as Level) < 2) delete line.requestObject;
        if (rankOf(level as Level) < 3) delete line.responseObject;
        return [line];
      });
      expect(out).toEqual(expected);
      expect(result.dropped.policy).toBe(events.length - expected.length);
      kept += expected.length;
      dropped += events.length - expected.length;
    }
    // The policy does something on these traces: both outcomes occur.
    expect(kept).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(0);
  });
});

function rankOf(level: Level): number {
  return ['None', 'Metadata', 'Request', 'RequestResponse'].indexOf(level);
}

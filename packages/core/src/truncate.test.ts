import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePayload } from './parse';
import { createPipeline, type PipelineOptions } from './pipeline';
import { serializeEvent } from './serialize';
import { CUT_ANNOTATION, MIN_MAX_EVENT_BYTES, TRUNCATED_ANNOTATION, utf8Length } from './truncate';

type Json = Record<string, unknown>;
const list = (items: unknown[]) => JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items });

/** An event as kube-apiserver writes it for an impersonated `get`, with the decision annotations. */
const event = (fields: Json = {}): Json => ({
  level: 'Metadata',
  auditID: '2b1c6c2e-56cf-4b6a-9c1d-4c7f8b1f2a10',
  stage: 'ResponseComplete',
  requestURI: '/api/v1/namespaces/shop/secrets/db',
  verb: 'get',
  user: { username: 'alice', uid: 'u-1', groups: ['dev', 'system:authenticated'], extra: { scopes: ['x'] } },
  impersonatedUser: { username: 'bob', groups: ['system:authenticated'] },
  sourceIPs: ['10.0.0.7', '192.168.1.1'],
  userAgent: 'kubectl/v1.33.0 (linux/amd64) kubernetes/abcdef',
  objectRef: { resource: 'secrets', namespace: 'shop', name: 'db', apiVersion: 'v1' },
  responseStatus: { metadata: {}, status: 'Failure', message: 'forbidden', reason: 'Forbidden', code: 403 },
  requestReceivedTimestamp: '2026-11-27T05:00:00.000000Z',
  stageTimestamp: '2026-11-27T05:00:00.001000Z',
  annotations: {
    'authorization.k8s.io/decision': 'forbid',
    'authorization.k8s.io/reason': 'RBAC: no rule',
    'example.com/other': 'o',
  },
  ...fields,
});

function run(items: unknown[], options: PipelineOptions) {
  const result = createPipeline({ dedupeCacheSize: 0, ...options }).process(parsePayload(list(items)));
  const lines = result.lines.split('\n').slice(0, -1);
  return { result, lines, out: lines.map((line) => JSON.parse(line) as Json) };
}

describe('truncation as the API server does it (k8s.io/apiserver plugin/pkg/audit/truncate/truncate.go)', () => {
  it('counts the size with the encoder’s trailing newline: over the cap when size > max', () => {
    // calcSize encodes with the JSON serializer, whose Encode ends with "\n"; ProcessEvents
    // truncates when `size > b.c.MaxEventSize`.
    const body = event({ level: 'Request', requestObject: { pad: '' } });
    const length = utf8Length(run([body], { maxEventBytes: 0 }).lines[0] as string);
    expect(run([body], { maxEventBytes: length + 1 }).result.truncated).toBe(0);
    expect(run([body], { maxEventBytes: length }).result.truncated).toBe(1);
  });

  it('drops bodies only at level Request and above, and marks the event even without bodies', () => {
    // `size > max && event.Level.GreaterOrEqual(LevelRequest)` → truncate(): both bodies nil, and
    // the annotation audit.k8s.io/truncated: "true" whether or not there were bodies.
    const request = event({ level: 'Request', requestObject: { pad: 'x'.repeat(3000) } });
    const { out } = run([request], { maxEventBytes: 2000 });
    expect(out[0]?.requestObject).toBeUndefined();
    expect(out[0]?.annotations).toEqual({ ...(request.annotations as Json), [TRUNCATED_ANNOTATION]: 'true' });
    // At Metadata the API server would not truncate but drop the event: it is cut down instead.
    const metadata = event({ level: 'Metadata', requestObject: { pad: 'x'.repeat(3000) } });
    const cut = run([metadata], { maxEventBytes: 2000 });
    expect(cut.result).toMatchObject({ truncated: 1, cut: 1 });
    expect((cut.out[0]?.annotations as Json | undefined)?.[CUT_ANNOTATION]).toBe('true');
  });
});

describe('cutting down an event still too long', () => {
  it('keeps who, from where, what and the decision, and marks it beside upstream’s marker', () => {
    const { out, result } = run([event({ responseStatus: { metadata: {}, message: 'm'.repeat(3000), code: 403 } })], {
      maxEventBytes: 2000,
    });
    expect(result).toMatchObject({ written: 1, truncated: 1, cut: 1 });
    const { user: _u, responseStatus: _r, annotations: _a, ...rest } = event();
    expect(out[0]).toEqual({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      ...rest,
      user: { username: 'alice', uid: 'u-1', groups: ['dev', 'system:authenticated'] },
      responseStatus: { code: 403 },
      annotations: {
        'authorization.k8s.io/decision': 'forbid',
        'authorization.k8s.io/reason': 'RBAC: no rule',
        [TRUNCATED_ANNOTATION]: 'true',
        [CUT_ANNOTATION]: 'true',
      },
    });
  });

  it('shortens a 300 KB requestURI first, with a marker, and keeps the attribution', () => {
    const uri = `/api/v1/namespaces/shop/pods?pad=${'x'.repeat(300_000)}`;
    const { out, lines } = run([event({ requestURI: uri })], { maxEventBytes: 262_144 });
    expect(utf8Length(lines[0] as string) + 1).toBeLessThanOrEqual(262_144);
    const line = out[0] as Json;
    expect(line.requestURI).toMatch(/^\/api\/v1\/namespaces\/shop\/pods\?pad=x+\[\.\.\.\d+ bytes cut\]$/);
    for (const key of ['sourceIPs', 'userAgent', 'impersonatedUser', 'objectRef', 'auditID', 'stageTimestamp'])
      expect(line[key]).toEqual(event()[key]);
    expect((line.user as Json).groups).toEqual(['dev', 'system:authenticated']);
    expect((line.annotations as Json)['authorization.k8s.io/decision']).toBe('forbid');
  });

  it('fits huge usernames, group lists and sourceIPs under the cap, lists marked where cut', () => {
    const huge = event({
      user: { username: 'u'.repeat(200_000), groups: Array.from({ length: 50_000 }, (_, i) => `group-${i}`) },
      impersonatedUser: { username: 'i'.repeat(100_000), groups: ['g'.repeat(100_000)] },
      sourceIPs: Array.from({ length: 40_000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`),
      userAgent: '\u0001"é😀'.repeat(30_000),
    });
    for (const max of [MIN_MAX_EVENT_BYTES, 4096, 262_144]) {
      const { out, lines } = run([huge], { maxEventBytes: max });
      expect(utf8Length(lines[0] as string) + 1).toBeLessThanOrEqual(max);
      expect((out[0]?.annotations as Json | undefined)?.[CUT_ANNOTATION]).toBe('true');
      if (max === 262_144) {
        const groups = (out[0]?.user as Json | undefined)?.groups as string[];
        expect(groups[0]).toBe('group-0');
        expect(groups.at(-1)).toMatch(/^\[\.\.\.\d+ more cut\]$/);
      }
    }
  });

  it('leaves the events written saying what their lines say', () => {
    const pipeline = createPipeline({ maxEventBytes: 2000, cluster: 'c1', dedupeCacheSize: 0 });
    const long = { userAgent: 'u'.repeat(5000) };
    const result = pipeline.process(parsePayload(list([event(long), event({ ...long, annotations: undefined })])));
    expect(result.events.map((e) => `${serializeEvent(e)}\n`).join('')).toBe(result.lines);
    expect(result.cut).toBe(2);
  });

  it('refuses a cap too small to cut every event into', () => {
    expect(() => createPipeline({ maxEventBytes: MIN_MAX_EVENT_BYTES - 1 })).toThrow(/maxEventBytes must be 0/);
    expect(() => createPipeline({ maxEventBytes: 1.5 })).toThrow(RangeError);
  });

  it('never writes a line longer than the cap, and each line is a valid event (property)', () => {
    const piece = fc.constantFrom('a', 'é', '😀', '"', '\\', '\u0001', '\n', '\ud800', '/', ' ');
    const text = fc
      .tuple(fc.array(piece, { minLength: 0, maxLength: 6 }), fc.oneof(fc.nat(40), fc.nat(8000)))
      .map(([pieces, n]) => pieces.join('').repeat(n));
    const strings = fc.oneof(fc.array(text, { maxLength: 8 }), fc.array(fc.string(), { maxLength: 3000 }));
    const hostile = fc.record({
      auditID: text,
      requestURI: text,
      verb: text,
      userAgent: text,
      sourceIPs: strings,
      user: fc.record({ username: text, groups: strings, extra: fc.dictionary(text, strings, { maxKeys: 3 }) }),
      impersonatedUser: fc.record({ username: text, groups: strings }),
      objectRef: fc.record({ resource: text, namespace: text, name: text }),
      annotations: fc.dictionary(
        fc.oneof(
          text,
          text.map((s) => `authorization.k8s.io/${s}`),
        ),
        text,
        { maxKeys: 12 },
      ),
      level: fc.constantFrom('Metadata', 'Request', 'RequestResponse'),
      requestObject: fc.option(fc.record({ pad: text }), { nil: undefined }),
    });
    fc.assert(
      fc.property(hostile, fc.integer({ min: MIN_MAX_EVENT_BYTES, max: 40_000 }), (fields, max) => {
        const { lines, out } = run([event(fields)], { maxEventBytes: max });
        expect(lines).toHaveLength(1);
        expect(utf8Length(lines[0] as string) + 1).toBeLessThanOrEqual(max);
        // The line parses, and as an event: the five required fields are there.
        const reparsed = parsePayload(lines[0] as string);
        expect(reparsed.invalid).toEqual([]);
        expect(out[0]?.auditID).toBeTypeOf('string');
      }),
      { numRuns: 80 },
    );
  }, 120_000);
});

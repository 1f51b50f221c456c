import { describe, expect, it } from 'vitest';
import { PayloadError } from './errors';
import { MemberTable } from './event';
import { ByteScanner } from './internal/json-bytes';
import { DEFAULT_API_VERSION, eventScanner, parsePayload, scanEvent } from './parse';
import { serializeEvent } from './serialize';

const item = (fields: Record<string, unknown> = {}) => ({
  level: 'Metadata',
  auditID: 'a1',
  stage: 'ResponseComplete',
  requestURI: '/api/v1/pods',
  verb: 'list',
  user: { username: 'alice' },
  ...fields,
});
const list = (items: unknown[], apiVersion = 'audit.k8s.io/v1') =>
  JSON.stringify({ kind: 'EventList', apiVersion, metadata: {}, items });
const lines = (text: string) => parsePayload(text).events.map(serializeEvent);

describe('parsePayload', () => {
  it('reads an EventList whose items carry no kind or apiVersion', () => {
    const parsed = parsePayload(list([item(), item({ auditID: 'a2' })]));
    expect(parsed.shape).toBe('EventList');
    expect(parsed.events.map((e) => e.auditID)).toEqual(['a1', 'a2']);
    expect(parsed.received).toBe(2);
    expect(parsed.events[0]?.apiVersion).toBe('audit.k8s.io/v1');
  });

  it.each(['audit.k8s.io/v1beta1', 'audit.k8s.io/v1alpha1'])(
    'accepts %s lists and labels their items with it',
    (version) => {
      const parsed = parsePayload(list([item()], version));
      expect(parsed.events[0]?.apiVersion).toBe(version);
      expect(JSON.parse(lines(list([item()], version))[0] as string).apiVersion).toBe(version);
    },
  );

  it('reads a list without kind (items present), a single Event and a bare array', () => {
    expect(parsePayload(JSON.stringify({ metadata: {}, items: [item()] })).shape).toBe('EventList');
    expect(parsePayload(JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...item() })).shape).toBe(
      'Event',
    );
    expect(parsePayload(JSON.stringify(item())).shape).toBe('Event');
    const array = parsePayload(JSON.stringify([item(), item({ auditID: 'b' })]));
    expect(array.shape).toBe('array');
    expect(array.events).toHaveLength(2);
  });

  it('keeps the event’s own apiVersion over the list’s', () => {
    const parsed = parsePayload(list([{ apiVersion: 'audit.k8s.io/v1beta1', ...item() }]));
    expect(parsed.events[0]?.apiVersion).toBe('audit.k8s.io/v1beta1');
  });

  it('reads a list whose kind comes after its items', () => {
    const body = `{"items":[${JSON.stringify(item())}],"apiVersion":"audit.k8s.io/v1beta1","kind":"EventList"}`;
    expect(parsePayload(body).events[0]?.apiVersion).toBe('audit.k8s.io/v1beta1');
  });

  // encoding/json (Go): "The JSON null value unmarshals into an interface, map, pointer, or slice by
  // setting that Go value to nil. Otherwise, unmarshaling a JSON null into any other Go type has no
  // effect on the value and produces no error." EventList.Items is a slice, Event.User a struct
  // (authenticationv1.UserInfo, not a pointer) and Event.UserAgent a string.
  it('reads "items": null, or an EventList without items, as an empty batch', () => {
    for (const body of [
      '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":null}',
      '{"items":null}',
      '{"kind":"EventList","apiVersion":"audit.k8s.io/v1"}',
    ]) {
      const parsed = parsePayload(body);
      expect(parsed).toMatchObject({ shape: 'EventList', events: [], invalid: [], received: 0 });
    }
  });

  it('accepts user: null and userAgent: null in an item, and writes them as received', () => {
    const body = list([item({ user: null, userAgent: null }), item({ auditID: 'a2', userAgent: null })]);
    const parsed = parsePayload(body);
    expect(parsed.invalid).toEqual([]);
    expect(parsed.events.map((e) => e.auditID)).toEqual(['a1', 'a2']);
    expect(lines(body)[0]).toContain('"user":null,"userAgent":null');
  });

  it('still checks an item with user: null for the five required fields', () => {
    const parsed = parsePayload(
      list([
        { ...item({ user: null }), auditID: undefined },
        item({ user: null, verb: null }),
        item({ user: null, stage: null }),
        item({ userAgent: 5 }),
        item({ user: [] }),
      ]),
    );
    expect(parsed.events).toEqual([]);
    expect(parsed.invalid.map(({ reason }) => reason)).toEqual([
      'missing auditID',
      'verb must be a string',
      'stage must be a string',
      'userAgent must be a string or null',
      'user must be an object or null',
    ]);
  });

  it('sets invalid items aside with a reason and keeps the rest', () => {
    const parsed = parsePayload(
      list([
        item(),
        42,
        { ...item(), auditID: undefined },
        item({ stage: 'Done' }),
        item({ level: 5 }),
        item({ user: 'bob' }),
        item({ kind: 'Pod' }),
        item({ auditID: 'ok' }),
      ]),
    );
    expect(parsed.events.map((e) => e.auditID)).toEqual(['a1', 'ok']);
    expect(parsed.invalid.map(({ index, reason }) => [index, reason])).toEqual([
      [1, 'not an object'],
      [2, 'missing auditID'],
      [3, 'stage must be one of RequestReceived, ResponseStarted, ResponseComplete, Panic'],
      [4, 'level must be a string'],
      [5, 'user must be an object or null'],
      [6, 'kind must be Event'],
    ]);
    expect(parsed.invalid[0]?.raw).toBe('42');
    expect(parsed.received).toBe(8);
  });

  it.each([
    ['', 'body is empty'],
    ['   ', 'body is empty'],
    ['null', 'body must be an EventList'],
    ['"x"', 'body must be an EventList'],
    ['{"kind": 0}', 'kind must be a string'],
    ['{"kind":"Pod"}', 'kind must be EventList or Event'],
    ['{"kind":"EventList","items":{}}', 'items must be an array or null'],
    ['{"items":"x"}', 'items must be an array or null'],
    ['{"items":0}', 'items must be an array or null'],
    ['{"kind":"EventList","apiVersion":"v1","items":[]}', 'apiVersion must be one of'],
    ['{"auditID":"x"}', 'invalid audit event: missing stage'],
    ['{"items":[', 'not valid JSON'],
    ['{"items":[]} x', 'unexpected data after the JSON value'],
    ['{"items":[],}', 'not valid JSON'],
    ['{"a":"\u0001"}', 'control character'],
    ['{"a":"\\x"}', 'invalid escape'],
    ['{"a":01}', 'not valid JSON'],
    ['{"a":1.}', 'invalid number'],
    ['{"a":tru}', 'not valid JSON'],
  ])('rejects %j: %s', (body, message) => {
    expect(() => parsePayload(body)).toThrow(PayloadError);
    expect(() => parsePayload(body)).toThrow(message);
  });

  it('keeps at most maxInvalidItems invalid items and counts all of them', () => {
    const body = list([0, item(), 'x', { auditID: 'y' }, null, item({ auditID: 'a2' })]);
    const all = parsePayload(body);
    expect(all).toMatchObject({ received: 6, invalidCount: 4 });
    expect(all.invalid.map((i) => i.index)).toEqual([0, 2, 3, 4]);
    const capped = parsePayload(body, { maxInvalidItems: 2 });
    expect(capped).toMatchObject({ received: 6, invalidCount: 4 });
    expect(capped.invalid).toEqual([
      { index: 0, reason: 'not an object', raw: '0' },
      { index: 2, reason: 'not an object', raw: '"x"' },
    ]);
    expect(capped.events.map((e) => e.auditID)).toEqual(['a1', 'a2']);
    // A repeated items key: the last one counts, for the count too.
    const twice = `{"items":[0,0,0],"items":[0,${JSON.stringify(item())}]}`;
    expect(parsePayload(twice, { maxInvalidItems: 0 })).toMatchObject({ received: 2, invalidCount: 1, invalid: [] });
  });

  it('never echoes body content in errors', () => {
    const secret = 'hunter2-very-secret';
    for (const body of [`{"kind":"${secret}"}`, `{"${secret}": tru}`, `[${secret}]`]) {
      try {
        parsePayload(body);
        expect.unreachable();
      } catch (error) {
        expect((error as Error).message).not.toContain(secret);
      }
    }
  });

  it('finds string ends past escaped quotes and backslashes, in lists and single events', () => {
    const fields = { auditID: 'a"b\\', userAgent: 'x\\"y"\\', requestURI: '/p?q=1&r="2"' };
    const single = JSON.stringify({ kind: 'Event', ...item(fields) });
    expect(parsePayload(single).events[0]?.auditID).toBe('a"b\\');
    const [line] = lines(`${list([item(fields), item({ auditID: 'z' })])}\n`);
    expect(JSON.parse(line as string)).toMatchObject(fields);
    expect(parsePayload(list([item(fields), item({ auditID: 'z' })])).events.map((e) => e.auditID)).toEqual([
      'a"b\\',
      'z',
    ]);
  });

  it('keeps every member of events with many more members than the body’s size suggests', () => {
    // The member table is sized from the body's length before the members are seen, and grows.
    const many = (n: number, tag: string) =>
      Object.fromEntries(Array.from({ length: n }, (_, k) => [`${tag}${k}`, k % 2 ? null : k]));
    const items = Array.from({ length: 30 }, (_, k) => item({ auditID: `m${k}`, ...many(300 + k, 'x') }));
    const parsed = parsePayload(list(items));
    expect(parsed.events).toHaveLength(30);
    for (const [k, event] of parsed.events.entries()) {
      expect(JSON.parse(serializeEvent(event))).toEqual({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...items[k] });
      expect(event.raw(`x${299 + k}`)).toBe(String((299 + k) % 2 ? null : 299 + k));
    }
  });

  it('ignores a byte order mark', () => {
    expect(parsePayload(`\ufeff${list([item()])}`).events).toHaveLength(1);
  });

  it('caps nesting at 10000 levels without overflowing the stack', () => {
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    expect(parsePayload(list([item({ requestObject: JSON.parse(deep(100)) })])).events).toHaveLength(1);
    expect(() => parsePayload(`{"items":[{"requestObject":${deep(100_000)}}]}`)).toThrow('nesting deeper than 10000');
  });
});

describe('serializeEvent', () => {
  it('starts each line with kind and apiVersion, then the fields in the order received', () => {
    const [line] = lines(list([item({ zeta: 1, alpha: 2 })]));
    expect(line).toBe(
      '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list","user":{"username":"alice"},"zeta":1,"alpha":2}',
    );
  });

  it('moves an event’s own kind and apiVersion to the front', () => {
    const [line] = lines(list([{ ...item(), apiVersion: 'audit.k8s.io/v1beta1', kind: 'Event' }]));
    expect(line?.startsWith('{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","level":"Metadata"')).toBe(true);
    expect(line?.match(/"kind"/g)).toHaveLength(1);
  });

  it('writes numbers and string escapes exactly as received', () => {
    const raw = `{"items":[{"level":"Request","auditID":"a","stage":"ResponseComplete","requestURI":"/x?a=1\\u0026b=2","verb":"create","requestObject":{"big":9007199254740993,"f":1.50,"e":1E+2,"neg":-0,"s":"\\u00e9\\ud83d\\ude00"}}]}`;
    const [line] = lines(raw);
    expect(line).toContain('"requestURI":"/x?a=1\\u0026b=2"');
    expect(line).toContain('{"big":9007199254740993,"f":1.50,"e":1E+2,"neg":-0,"s":"\\u00e9\\ud83d\\ude00"}');
  });

  it('puts a pretty-printed event on one line', () => {
    const pretty = JSON.stringify({ items: [item({ requestObject: { a: [1, 2, { b: 'x y' }] } })] }, null, 2);
    const [line] = lines(pretty);
    expect(line).not.toContain('\n');
    expect(line).toContain('"requestObject":{"a":[1,2,{"b":"x y"}]}');
    expect(JSON.parse(line as string)).toEqual({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      ...item({ requestObject: { a: [1, 2, { b: 'x y' }] } }),
    });
  });

  it('keeps duplicate keys and __proto__ as data', () => {
    const raw = `{"items":[{"level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/","verb":"get","__proto__":{"polluted":true},"x":1,"x":2}]}`;
    const [line] = lines(raw);
    expect(line).toContain('"__proto__":{"polluted":true},"x":1,"x":2');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('AuditEvent.mayNameCredentialKind', () => {
  const pod = { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'web', labels: { secret: 'Secrets' } } };
  const event = (fields: Record<string, unknown>) => {
    const [parsed] = parsePayload(list([item(fields)])).events;
    if (!parsed) throw new Error('no event');
    return parsed;
  };

  it('is false only for a body in which the parse met no object of a credential kind and no \\u escape', () => {
    const e = event({ requestObject: pod, responseObject: { kind: 'List', items: [pod, { kind: 'Secret' }] } });
    expect(e.mayNameCredentialKind('requestObject')).toBe(false);
    expect(e.mayNameCredentialKind('responseObject')).toBe(true);
    // Each kind counts at any depth, as a kind only; so does any \u escape, which can spell one.
    for (const kind of ['Secret', 'SecretList', 'TokenRequest', 'TokenReview']) {
      expect(event({ responseObject: { a: [{ kind }] } }).mayNameCredentialKind('responseObject'), kind).toBe(true);
      expect(event({ responseObject: { a: [{ b: kind }] } }).mayNameCredentialKind('responseObject'), kind).toBe(false);
    }
    const escaped = parsePayload(
      list([item()]).replace('"items":[{', '"items":[{"requestObject":{"kind":"\\u0050od"},'),
    );
    expect(escaped.events[0]?.mayNameCredentialKind('requestObject')).toBe(true);
    // Other members of the event are noted on their own.
    expect(event({ annotations: { a: 'Secret' }, requestObject: pod }).mayNameCredentialKind('requestObject')).toBe(
      false,
    );
  });

  it('is true for every field of an event scanned without the credential kinds watched', () => {
    const b = new TextEncoder().encode(JSON.stringify(item({ requestObject: pod })));
    const { event } = scanEvent(new ByteScanner(), b, 0, 0, DEFAULT_API_VERSION, new MemberTable(b));
    expect(event?.mayNameCredentialKind('requestObject')).toBe(true);
    const watched = scanEvent(eventScanner(), b, 0, 0, DEFAULT_API_VERSION, new MemberTable(b));
    expect(watched.event?.mayNameCredentialKind('requestObject')).toBe(false);
  });

  it('is true for a body a step has set or added, false for one that is absent', () => {
    const e = event({ requestObject: pod });
    expect(e.mayNameCredentialKind('responseObject')).toBe(false);
    e.set('responseObject', JSON.stringify(pod));
    expect(e.mayNameCredentialKind('responseObject')).toBe(true);
    e.set('requestObject', JSON.stringify(pod));
    expect(e.mayNameCredentialKind('requestObject')).toBe(true);
  });
});

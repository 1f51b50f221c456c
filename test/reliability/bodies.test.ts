/**
 * Hostile bodies against the running receiver: each gets its documented status, stdout gets
 * exactly the lines a 200 promised, and the process survives the whole file.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postAudit, type ReceiverProcess, startReceiver } from '../support/receiver';

let receiver: ReceiverProcess;
beforeAll(async () => {
  receiver = await startReceiver({ env: { MAX_BODY_BYTES: String(64 * 1024 * 1024) } });
});
afterAll(async () => {
  // The same process served every case.
  expect(receiver.child.exitCode).toBeNull();
  expect(await receiver.stop()).toBe(0);
});

const event = (fields: Record<string, unknown> = {}) => ({
  level: 'Request',
  auditID: `id-${Math.random().toString(36).slice(2)}`,
  stage: 'ResponseComplete',
  requestURI: '/api/v1/namespaces/default/configmaps',
  verb: 'create',
  user: { username: 'mallory' },
  ...fields,
});

/** Post and return status, answer and the lines the request added to stdout. */
async function send(body: string | Uint8Array, headers: Record<string, string> = {}) {
  const before = receiver.lines.length;
  const response = await postAudit(`${receiver.url}/audit`, body, headers);
  const answer = (await response.json()) as Record<string, unknown>;
  if (response.status === 200)
    await receiver.waitFor(() => receiver.lines.length >= before + (answer.written as number));
  await new Promise((resolve) => setTimeout(resolve, 20));
  return { status: response.status, answer, lines: receiver.lines.slice(before) };
}

const encode = (text: string) => new TextEncoder().encode(text);

// Go's encoding/json decodes "items": null into a nil slice: an empty batch, as the API server's
// own types would read it.
describe('bodies Go accepts', () => {
  it('an EventList with "items": null is an empty batch: 200, nothing written', async () => {
    const { status, answer, lines } = await send('{"kind":"EventList","items":null}');
    expect(status).toBe(200);
    expect(answer).toEqual({ received: 0, written: 0, dropped: { policy: 0, duplicate: 0 }, invalid: 0 });
    expect(lines).toEqual([]);
  });
});

describe('bodies that are not an accepted shape get 400 and write nothing', () => {
  it.each([
    ['empty', ''],
    ['whitespace', ' \n\t '],
    ['null', 'null'],
    ['a number', '42'],
    ['a string', '"EventList"'],
    ['true', 'true'],
    ['truncated JSON', '{"kind":"EventList","items":[{"level":"Metadata"'],
    ['trailing garbage', '{"items":[]}garbage'],
    ['two documents', '{"items":[]}{"items":[]}'],
    ['items of the wrong type', '{"kind":"EventList","items":"all of them"}'],
    ['items a string', '{"kind":"EventList","items":"x"}'],
    ['another kind', '{"kind":"Pod","apiVersion":"v1"}'],
    ['another apiVersion', '{"kind":"EventList","apiVersion":"audit.k8s.io/v2","items":[]}'],
    ['a single event missing fields', '{"kind":"Event","level":"Metadata"}'],
    ['single quotes', "{'items':[]}"],
    ['a comment', '{"items":[] /* no */}'],
    ['NaN', '{"items":[{"x":NaN}]}'],
    ['an unescaped control character', '{"items":["a\u0007b"]}'],
    ['a bad escape', '{"items":["\\q"]}'],
    ['a bad unicode escape', '{"items":["\\u12G4"]}'],
  ])('%s', async (_name, body) => {
    const { status, answer, lines } = await send(body);
    expect(status).toBe(400);
    expect(answer).toEqual({ error: expect.any(String) });
    expect(lines).toEqual([]);
  });

  it('invalid UTF-8', async () => {
    const bytes = new Uint8Array([...encode('{"items":["'), 0xc3, 0x28, ...encode('"]}')]);
    const { status, answer } = await send(bytes);
    expect(status).toBe(400);
    expect(answer).toEqual({ error: 'body is not valid UTF-8' });
  });

  // The body is parsed as bytes and never decoded whole: each sequence Unicode's Table 3-7 (what
  // a fatal TextDecoder, and Go's utf8.Valid, refuse) must be refused wherever it stands, with a
  // valid event beside it so that nothing of the batch is written.
  it.each([
    ['an overlong slash (C0 AF)', [0xc0, 0xaf]],
    ['an overlong three-byte form (E0 80 AF)', [0xe0, 0x80, 0xaf]],
    ['a UTF-16 surrogate (ED A0 80)', [0xed, 0xa0, 0x80]],
    ['past U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
    ['a lone continuation byte (80)', [0x80]],
    ['a sequence cut short (E2 82)', [0xe2, 0x82]],
    ['F5 and above', [0xf5, 0x80, 0x80, 0x80]],
  ])('invalid UTF-8 in a string: %s', async (_name, sequence) => {
    const [head, tail] = JSON.stringify({ items: [event(), event({ userAgent: 'X' })] }).split('X');
    const { status, answer, lines } = await send(
      new Uint8Array([...encode(head as string), ...sequence, ...encode(tail as string)]),
    );
    expect(status).toBe(400);
    expect(answer).toEqual({ error: 'body is not valid UTF-8' });
    expect(lines).toEqual([]);
  });

  it.each([
    ['before the body', (body: Uint8Array) => new Uint8Array([0xff, ...body])],
    ['between items', (body: Uint8Array) => new Uint8Array([...body.subarray(0, 10), 0xc3, ...body.subarray(10)])],
    ['at the very end, cut short', (body: Uint8Array) => new Uint8Array([...body, 0xe2, 0x82])],
  ])('invalid UTF-8 outside strings: %s', async (_name, spoil) => {
    const { status, answer, lines } = await send(spoil(encode(JSON.stringify({ items: [event()] }))));
    expect(status).toBe(400);
    expect(answer).toEqual({ error: 'body is not valid UTF-8' });
    expect(lines).toEqual([]);
  });

  it('100 000-deep nesting', async () => {
    const deep = `{"items":[${'['.repeat(100_000)}${']'.repeat(100_000)}]}`;
    const { status, answer } = await send(deep);
    expect(status).toBe(400);
    expect(answer.error).toContain('nesting deeper than 10000');
  });
});

describe('bodies that are accepted', () => {
  it('a byte order mark is ignored', async () => {
    const { status, lines } = await send(`\ufeff${JSON.stringify({ items: [event()] })}`);
    expect(status).toBe(200);
    expect(lines).toHaveLength(1);
  });

  it('text of every UTF-8 length comes out byte for byte', async () => {
    const text = 'é € 😀 ünïcödé \u00e9';
    const body = JSON.stringify({ items: [event({ userAgent: text, annotations: { 'note/ä': text } })] });
    const { status, lines } = await send(body);
    expect(status).toBe(200);
    expect(lines[0]).toContain(`"userAgent":${JSON.stringify(text)}`);
    expect(lines[0]).toContain(`"annotations":{"note/ä":${JSON.stringify(text)}}`);
  });

  it('lone surrogate escapes pass through as written', async () => {
    const body = JSON.stringify({ items: [event({ userAgent: 'X' })] }).replace('"X"', '"\\ud800 \\udfff"');
    const { status, lines } = await send(body);
    expect(status).toBe(200);
    expect(lines[0]).toContain('"userAgent":"\\ud800 \\udfff"');
  });

  it('huge and tiny numbers come out digit for digit', async () => {
    const numbers =
      '[1e400,-1e-400,123456789012345678901234567890,-0,0.1000000000000000055511151231257827,9007199254740993]';
    const body = JSON.stringify({ items: [event({ requestObject: { n: 'N' } })] }).replace('"N"', numbers);
    const { lines } = await send(body);
    expect(lines[0]).toContain(`"requestObject":{"n":${numbers}}`);
  });

  it('duplicate keys are kept as sent', async () => {
    const body = JSON.stringify({ items: [event({ requestObject: { a: 'A' } })] }).replace(
      '{"a":"A"}',
      '{"a":1,"a":2}',
    );
    const { lines } = await send(body);
    expect(lines[0]).toContain('"requestObject":{"a":1,"a":2}');
  });

  it('__proto__ and constructor keys stay data; nothing is polluted', async () => {
    const hostile = '{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"isAdmin":true}}}';
    const body = JSON.stringify({ items: [event({ requestObject: 'H', annotations: 'A' })] })
      .replace('"H"', hostile)
      .replace('"A"', '{"__proto__":"x","constructor":"y"}');
    const first = await send(body);
    expect(first.status).toBe(200);
    expect(first.lines[0]).toContain(`"requestObject":${hostile}`);
    expect(first.lines[0]).toContain('"annotations":{"__proto__":"x","constructor":"y"}');
    // An event whose own field is named __proto__, and the next request's answer is unchanged.
    const second = await send(
      JSON.stringify({ items: [event()] }).replace('"verb"', '"__proto__":{"polluted":1},"verb"'),
    );
    expect(second.status).toBe(200);
    expect(second.answer).toEqual({ received: 1, written: 1, dropped: { policy: 0, duplicate: 0 }, invalid: 0 });
    const third = await send(JSON.stringify({ items: [event()] }));
    expect(JSON.parse(third.lines[0] as string).polluted).toBeUndefined();
  });

  it('one 50 MB string: accepted under a raised MAX_BODY_BYTES, the event truncated, not dropped', async () => {
    const body = JSON.stringify({ items: [event({ requestObject: { blob: 'B' } }), event()] }).replace(
      '"B"',
      `"${'x'.repeat(50_000_000)}"`,
    );
    const { status, answer, lines } = await send(body);
    expect(status).toBe(200);
    expect(answer).toMatchObject({ received: 2, written: 2 });
    const line = JSON.parse(lines[0] as string);
    expect(line.requestObject).toBeUndefined();
    expect(line.annotations).toEqual({ 'audit.k8s.io/truncated': 'true' });
  });

  it('a million tiny items: every one counted invalid, the valid one written, one summary on stderr', async () => {
    const logsBefore = receiver.logs.length;
    const body = `{"items":[${'0,'.repeat(1_000_000)}${JSON.stringify(event())}]}`;
    const { status, answer, lines } = await send(body);
    expect(status).toBe(200);
    expect(answer).toEqual({
      received: 1_000_001,
      written: 1,
      dropped: { policy: 0, duplicate: 0 },
      invalid: 1_000_000,
    });
    expect(lines).toHaveLength(1);
    await receiver.waitFor(() => receiver.logs.slice(logsBefore).some((log) => log.msg === 'invalid audit events'));
    const invalid = receiver.logs.slice(logsBefore).filter((log) => log.msg === 'invalid audit events');
    expect(invalid).toHaveLength(1);
    expect(invalid[0]).toMatchObject({ count: 1_000_000 });
    expect((invalid[0] as { first: unknown[] }).first[0]).toEqual({ index: 0, reason: 'not an object' });
  }, 60_000);

  it('a gzip bomb is stopped at MAX_BODY_BYTES of decompressed bytes', async () => {
    const bomb = gzipSync(Buffer.alloc(65 * 1024 * 1024, 32), { level: 9 });
    expect(bomb.length).toBeLessThan(200 * 1024);
    const { status, answer } = await send(bomb, { 'content-encoding': 'gzip' });
    expect(status).toBe(413);
    expect(answer).toEqual({ error: `body is larger than ${64 * 1024 * 1024} bytes` });
  });
});

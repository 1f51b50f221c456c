import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createPipeline, type PipelineOptions, parsePayload } from '@kube-audit/core';
import { describe, expect, it } from 'vitest';
import { asWebhookBody, expectedLine, MALFORMED, REAL, realFixtureFiles } from '../../../test/support/fixtures';
import { type AppOptions, createApp } from './app';
import { readBody } from './body';
import { createLogger } from './logger';
import { createQueueSink } from './sink';

function setup(options: Partial<Omit<AppOptions, 'pipeline'>> & { pipeline?: PipelineOptions } = {}) {
  const written: string[] = [];
  const logs: string[] = [];
  const sink = createQueueSink(async (bytes) => {
    written.push(new TextDecoder().decode(bytes));
  });
  const app = createApp({
    sink,
    logger: createLogger((line) => logs.push(line), 'debug'),
    ...options,
    pipeline: createPipeline({ redact: false, ...options.pipeline }),
  });
  const post = (body: string | Uint8Array, headers: Record<string, string> = {}, path = '/audit?timeout=30s') =>
    app.request(path, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  const lines = () => written.join('').split('\n').filter(Boolean);
  return {
    app,
    post,
    lines,
    logs: () =>
      logs
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}

const event = (fields: Record<string, unknown> = {}) => ({
  level: 'Metadata',
  auditID: 'a1',
  stage: 'ResponseComplete',
  requestURI: '/api/v1/namespaces/default/pods',
  verb: 'list',
  user: { username: 'alice' },
  ...fields,
});

describe('receiving the real fixtures', () => {
  for (const file of realFixtureFiles()) {
    it(`writes ${file.name} line for line, field for field`, async () => {
      const listVersion = (file.events[0]?.apiVersion as string | undefined) ?? 'audit.k8s.io/v1';
      const { post, lines } = setup({ pipeline: { dedupeCacheSize: 0 } });
      const response = await post(asWebhookBody(file.events, listVersion));
      expect(response.status).toBe(200);
      const n = file.events.length;
      expect(await response.json()).toEqual({
        received: n,
        written: n,
        dropped: { policy: 0, duplicate: 0 },
        invalid: 0,
      });
      const out = lines().map((line) => JSON.parse(line));
      expect(out).toHaveLength(n);
      out.forEach((line, i) => {
        const expected = expectedLine({ ...file.events[i], apiVersion: undefined }, listVersion);
        expect(line).toStrictEqual(expected);
        // Field order too: kind, apiVersion, then the event's own order.
        expect(Object.keys(line)).toEqual(Object.keys(expected));
      });
    });
  }

  it(`answers 400 to ${MALFORMED} and writes nothing`, async () => {
    const { post, lines } = setup();
    const response = await post(readFileSync(`${REAL}${MALFORMED}`, 'utf8'));
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'kind must be a string' });
    expect(lines()).toEqual([]);
  });
});

describe('routes', () => {
  it.each(['/', '/post', '/audit', '/audit/prod-eu'])('receives on POST %s, query ignored', async (path) => {
    const { post, lines } = setup();
    const response = await post(JSON.stringify({ items: [event()] }), {}, `${path}?timeout=30s`);
    expect(response.status).toBe(200);
    expect(lines()).toHaveLength(1);
  });

  it('names the cluster from the path', async () => {
    const { post, lines } = setup({ pipeline: { cluster: 'from-env' } });
    await post(JSON.stringify({ items: [event()] }), {}, '/audit/prod-eu');
    expect(JSON.parse(lines()[0] as string).annotations).toEqual({ 'kube-audit/cluster': 'prod-eu' });
  });

  it('rejects a cluster segment that is not a name', async () => {
    const { post } = setup();
    const response = await post(JSON.stringify({ items: [event()] }), {}, `/audit/${encodeURIComponent('bad name')}`);
    expect(response.status).toBe(400);
  });

  it('answers health and readiness, and 503 while draining', async () => {
    let draining = false;
    const { app, post } = setup({ draining: () => draining });
    expect((await app.request('/healthz')).status).toBe(200);
    expect((await app.request('/readyz')).status).toBe(200);
    draining = true;
    const ready = await app.request('/readyz');
    expect(ready.status).toBe(503);
    const batch = await post(JSON.stringify({ items: [event()] }));
    expect(batch.status).toBe(503);
    expect(batch.headers.get('retry-after')).toBe('1');
    expect((await app.request('/healthz')).status).toBe(200);
  });

  it('answers 404 elsewhere and 405 with Allow for a wrong method', async () => {
    const { app } = setup();
    const missing = await app.request('/nope', { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'not found' });
    const wrong = await app.request('/audit', { method: 'GET' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect((await app.request('/healthz', { method: 'POST' })).status).toBe(405);
  });
});

describe('bodies', () => {
  it('gives a large body’s memory back once its batch is answered, and leaves a small one', async () => {
    // The reader hands out the body, as the runtimes' readers do, and the test keeps it.
    let next = new Uint8Array(0);
    const { post, lines } = setup({ readBody: async () => next });
    const encode = (n: number, prefix: string) =>
      new TextEncoder().encode(
        JSON.stringify({ items: Array.from({ length: n }, (_, i) => event({ auditID: `${prefix}-${i}` })) }),
      );
    const large = encode(40_000, 'large');
    const small = encode(10, 'small');
    expect(large.byteLength).toBeGreaterThan(4 * 1024 * 1024);
    for (const body of [large, small]) {
      next = body;
      expect((await post('ignored')).status).toBe(200);
    }
    expect(lines()).toHaveLength(40_010);
    // Detached: its memory is no longer the array's to hold.
    expect(large.buffer.byteLength).toBe(0);
    expect(small.byteLength).toBeGreaterThan(0);
    expect(JSON.parse(new TextDecoder().decode(small)).items).toHaveLength(10);
  });

  it('reads the next body into the array of one already answered, never into one still held', async () => {
    const arrays: ArrayBufferLike[] = [];
    let unblock = () => {};
    let blocked: Promise<void> | undefined;
    const written: string[] = [];
    const app = createApp({
      sink: createQueueSink(async (bytes) => {
        written.push(new TextDecoder().decode(bytes));
        await blocked;
      }),
      logger: createLogger(() => {}, 'error'),
      pipeline: createPipeline({ redact: false }),
      readBody: async (c, limit, options) => {
        const body = await readBody(c.req.raw, limit, options);
        arrays.push(body.buffer);
        return body;
      },
    });
    const post = (prefix: string, n: number) =>
      app.request('/audit', {
        method: 'POST',
        body: JSON.stringify({ items: Array.from({ length: n }, (_, i) => event({ auditID: `${prefix}-${i}` })) }),
        headers: { 'content-type': 'application/json' },
      });
    expect((await post('a', 20)).status).toBe(200);
    expect((await post('b', 5)).status).toBe(200);
    expect(arrays[1]).toBe(arrays[0]);
    // While a batch waits for its write, its body is held: the next body gets another array.
    blocked = new Promise((resolve) => {
      unblock = resolve;
    });
    const held = post('c', 20);
    await new Promise((resolve) => setTimeout(resolve, 20));
    blocked = undefined;
    const next = post('d', 20);
    await new Promise((resolve) => setTimeout(resolve, 20));
    unblock();
    expect((await held).status).toBe(200);
    expect((await next).status).toBe(200);
    expect(arrays[2]).toBe(arrays[0]);
    expect(arrays[3]).not.toBe(arrays[2]);
    const ids = written
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line).auditID);
    expect(ids.filter((id) => id.startsWith('c-'))).toEqual(Array.from({ length: 20 }, (_, i) => `c-${i}`));
    expect(ids.filter((id) => id.startsWith('d-'))).toEqual(Array.from({ length: 20 }, (_, i) => `d-${i}`));
    expect(ids).toHaveLength(65);
  });

  it.each([
    ['application/json', 200],
    ['application/json; charset=utf-8', 200],
    ['application/vnd.kubernetes+json', 200],
    ['text/plain', 415],
    ['application/jsonp', 415],
    ['application/x-www-form-urlencoded', 415],
  ])('Content-Type %s: %i', async (type, status) => {
    const { post } = setup();
    expect((await post(JSON.stringify({ items: [event()] }), { 'content-type': type })).status).toBe(status);
  });

  it('answers 415 without a Content-Type', async () => {
    const { app } = setup();
    const response = await app.request('/audit', { method: 'POST', body: new TextEncoder().encode('{}') });
    expect(response.status).toBe(415);
  });

  it('accepts gzip and limits the decompressed size', async () => {
    const { post, lines } = setup({ maxBodyBytes: 4096 });
    const ok = await post(gzipSync(JSON.stringify({ items: [event()] })), { 'content-encoding': 'gzip' });
    expect(ok.status).toBe(200);
    expect(lines()).toHaveLength(1);
    const bomb = gzipSync(Buffer.alloc(1024 * 1024, 32));
    expect(bomb.length).toBeLessThan(4096);
    expect((await post(bomb, { 'content-encoding': 'gzip' })).status).toBe(413);
    expect((await post(Buffer.from('not gzip'), { 'content-encoding': 'gzip' })).status).toBe(400);
    expect((await post('{}', { 'content-encoding': 'br' })).status).toBe(415);
  });

  it('answers 413 past MAX_BODY_BYTES, on the bytes read', async () => {
    const { post, lines } = setup({ maxBodyBytes: 2048 });
    const big = JSON.stringify({ items: Array.from({ length: 30 }, (_, i) => event({ auditID: `id-${i}` })) });
    const response = await post(big);
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: 'body is larger than 2048 bytes' });
    expect(lines()).toEqual([]);
  });

  it('answers 400 to invalid UTF-8', async () => {
    const { post } = setup();
    const bytes = new Uint8Array([
      ...new TextEncoder().encode('{"items":["'),
      0xff,
      0xfe,
      ...new TextEncoder().encode('"]}'),
    ]);
    const response = await post(bytes);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'body is not valid UTF-8' });
  });

  it('writes the valid items of a batch and logs the invalid ones by index and reason, without content', async () => {
    const { post, lines, logs } = setup();
    const response = await post(JSON.stringify({ items: [event(), { auditID: 'x' }, event({ auditID: 'a2' })] }));
    expect(await response.json()).toEqual({
      received: 3,
      written: 2,
      dropped: { policy: 0, duplicate: 0 },
      invalid: 1,
    });
    expect(lines()).toHaveLength(2);
    const warnings = logs().filter((log) => log.msg.startsWith('invalid audit event'));
    expect(warnings).toEqual([
      {
        level: 'warn',
        time: expect.any(String),
        msg: 'invalid audit events',
        count: 1,
        first: [{ index: 1, reason: 'missing stage' }],
      },
    ]);
  });

  // Go's encoding/json decodes "items": null into a nil slice, and null into a string or a struct
  // (userAgent, user) as its zero value: an API server's Go client would send such a batch.
  it('answers 200 to "items": null, and writes items with user: null and userAgent: null', async () => {
    const { post, lines } = setup();
    const empty = await post('{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":null}');
    expect(empty.status).toBe(200);
    expect(await empty.json()).toEqual({ received: 0, written: 0, dropped: { policy: 0, duplicate: 0 }, invalid: 0 });
    const response = await post(JSON.stringify({ items: [event({ user: null, userAgent: null })] }));
    expect(await response.json()).toMatchObject({ received: 1, written: 1, invalid: 0 });
    expect(JSON.parse(lines()[0] as string)).toMatchObject({ auditID: 'a1', user: null, userAgent: null });
  });

  it('does not answer 200 when the sink fails, and lets the retry through', async () => {
    let fail = true;
    const written: string[] = [];
    const app = createApp({
      pipeline: createPipeline(),
      logger: createLogger(() => {}, 'silent'),
      sink: createQueueSink(async (bytes) => {
        if (fail) throw new Error('EPIPE');
        written.push(new TextDecoder().decode(bytes));
      }),
    });
    const body = JSON.stringify({ items: [event()] });
    const init = { method: 'POST', body, headers: { 'content-type': 'application/json' } };
    const first = await app.request('/audit', init);
    expect(first.status).toBe(503);
    fail = false;
    const retry = await app.request('/audit', init);
    expect(retry.status).toBe(200);
    expect(await retry.json()).toMatchObject({ written: 1, dropped: { duplicate: 0 } });
    expect(written).toHaveLength(1);
  });

  it('writes a batch of several MiB slice by slice, in order, and a failure in a later slice lets the whole retry through', async () => {
    // ~3 MiB of events: the lines are made and written about 1 MiB at a time.
    const items = Array.from({ length: 1500 }, (_, i) =>
      event({ auditID: `big-${i}`, requestObject: { pad: 'x'.repeat(2000) } }),
    );
    const body = JSON.stringify({ items });
    const expected = createPipeline({ dedupeCacheSize: 0 }).process(parsePayload(body)).lines;
    let writes = 0;
    let failAt = 2;
    const written: string[] = [];
    const app = createApp({
      pipeline: createPipeline(),
      logger: createLogger(() => {}, 'silent'),
      sink: createQueueSink(async (bytes) => {
        if (++writes === failAt) throw new Error('EPIPE');
        written.push(new TextDecoder().decode(bytes));
      }),
    });
    const init = { method: 'POST', body, headers: { 'content-type': 'application/json' } };
    const first = await app.request('/audit', init);
    expect(first.status).toBe(503);
    // The first slice was written before the second failed: the retry writes all of it again,
    // none of it dropped as a duplicate.
    expect(written).toHaveLength(1);
    failAt = 0;
    written.length = 0;
    const retry = await app.request('/audit', init);
    expect(retry.status).toBe(200);
    expect(await retry.json()).toMatchObject({ received: 1500, written: 1500, dropped: { duplicate: 0 } });
    expect(written.length).toBeGreaterThanOrEqual(3);
    expect(written.join('')).toBe(expected);
  });
});

describe('bodies that stall or trickle', () => {
  /** A request body that sends `first`, then one byte every `everyMs` (never, when undefined), and never ends. */
  function slowBody(first: Uint8Array, everyMs?: number) {
    let timer: ReturnType<typeof setInterval> | undefined;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(first);
        if (everyMs !== undefined) timer = setInterval(() => controller.enqueue(new Uint8Array([32])), everyMs);
      },
      cancel() {
        clearInterval(timer);
      },
    });
    return { stream, stop: () => clearInterval(timer) };
  }
  const postStream = (app: ReturnType<typeof setup>['app'], stream: ReadableStream<Uint8Array>) =>
    app.request('/audit', {
      method: 'POST',
      body: stream,
      headers: { 'content-type': 'application/json' },
      duplex: 'half',
    } as RequestInit);

  it('answers 408 and closes the connection when no byte arrives for bodyIdleTimeoutMs, releasing its bytes', async () => {
    const { app, post, lines } = setup({ maxInflightBytes: 100_000, bodyIdleTimeoutMs: 200 });
    const held = slowBody(new Uint8Array(90_000).fill(32));
    const stalled = postStream(app, held.stream);
    // While the stalled body holds 90 KB of the 100 KB budget, a 20 KB batch waits for its retry.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const items = Array.from({ length: 80 }, (_, i) => event({ auditID: `small-${i}` }));
    const small = JSON.stringify({ items });
    expect(small.length).toBeGreaterThan(10_000);
    expect((await post(small)).status).toBe(503);

    const response = await stalled;
    expect(response.status).toBe(408);
    expect(response.headers.get('connection')).toBe('close');
    expect(await response.json()).toEqual({ error: 'no body bytes for 200 ms' });
    const retried = await post(small);
    expect(retried.status).toBe(200);
    expect(lines()).toHaveLength(80);
  });

  it('answers 408 when a body that keeps trickling has not arrived whole within bodyTimeoutMs', async () => {
    const { app } = setup({ bodyIdleTimeoutMs: 200, bodyTimeoutMs: 600 });
    const trickle = slowBody(new TextEncoder().encode('{"items":['), 20);
    const response = await postStream(app, trickle.stream);
    trickle.stop();
    expect(response.status).toBe(408);
    expect(await response.json()).toEqual({ error: 'body did not arrive within 600 ms' });
  });
});

import { gzipSync } from 'node:zlib';
import type { HttpBindings } from '@hono/node-server';
import { createPipeline } from '@kube-audit/core';
import { describe, expect, it } from 'vitest';
import { type AppOptions, createApp } from './app';
import { createLogger } from './logger';
import { nodeRuntime } from './node-runtime';
import { createQueueSink } from './sink';

const readBody = nodeRuntime.readBody as NonNullable<AppOptions['readBody']>;

function setup(options: Partial<AppOptions> = {}) {
  const written: string[] = [];
  const sink = createQueueSink(async (bytes) => {
    written.push(new TextDecoder().decode(bytes));
  });
  const app = createApp({
    pipeline: createPipeline({ redact: false }),
    sink,
    logger: createLogger(() => {}, 'error'),
    maxBodyBytes: 4096,
    ...options,
  });
  return { app, lines: () => written.join('').split('\n').filter(Boolean) };
}

const body = (id: string) =>
  JSON.stringify({
    items: [{ level: 'Metadata', auditID: id, stage: 'ResponseComplete', requestURI: '/x', verb: 'get', user: {} }],
  });

describe('the Node runtime’s body reader', () => {
  it('reads from Node’s request on a listening server: no web Request, the same answers', async () => {
    const fromIncoming: boolean[] = [];
    const { app, lines } = setup({
      readBody(c, limit, options) {
        fromIncoming.push((c.env as Partial<HttpBindings> | undefined)?.incoming !== undefined);
        return readBody(c, limit, options);
      },
    });
    const listener = await nodeRuntime.listen(app, { port: 0 });
    try {
      const post = (payload: string | Uint8Array, headers: Record<string, string> = {}) =>
        fetch(`http://127.0.0.1:${listener.port}/audit`, {
          method: 'POST',
          body: payload,
          headers: { 'content-type': 'application/json', ...headers },
        });
      expect((await post(body('plain'))).status).toBe(200);
      expect((await post(gzipSync(body('gzip')), { 'content-encoding': 'gzip' })).status).toBe(200);
      const bomb = await post(gzipSync(Buffer.alloc(1024 * 1024, 32)), { 'content-encoding': 'gzip' });
      expect(bomb.status).toBe(413);
      expect(await bomb.json()).toEqual({ error: 'body is larger than 4096 bytes' });
      expect((await post('x'.repeat(5000))).status).toBe(413);
      expect(fromIncoming).toEqual([true, true, true, true]);
      expect(lines().map((line) => JSON.parse(line).auditID)).toEqual(['plain', 'gzip']);
    } finally {
      await listener.close();
    }
  });

  it('falls back to the web reader without a Node request (app.request)', async () => {
    const { app, lines } = setup({ readBody });
    const response = await app.request('/audit', {
      method: 'POST',
      body: gzipSync(body('web')),
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    expect(response.status).toBe(200);
    expect(lines()).toHaveLength(1);
  });
});

/**
 * @module
 * The receiver as a Hono app. It touches no runtime API: the sink, the pipeline, the logger and
 * the metrics come in through `createApp(options)`, and the entries (`node.ts`, `bun.ts`) wire
 * them to stdout, the environment and signals.
 */
import { zValidator } from '@hono/zod-validator';
import { type AuditEvent, type BatchResult, PayloadError, type Pipeline, parsePayload } from '@kube-audit/core';
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { BodyPool, isJsonContentType, type ReadBodyOptions, readBody } from './body';
import { ReceiverError } from './http-error';
import type { Logger } from './logger';
import type { BatchCounts, Metrics } from './metrics';
import {
  DEFAULT_BODY_IDLE_TIMEOUT_MS,
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_PENDING_BYTES,
} from './settings';
import type { Sink } from './sink';

export interface AppOptions {
  pipeline: Pipeline;
  sink: Sink;
  logger: Logger;
  /** 413 past this many (decompressed) body bytes. @default DEFAULT_MAX_BODY_BYTES (MAX_BODY_BYTES) */
  maxBodyBytes?: number;
  /** Above this many bytes waiting for the sink, receive routes answer 503. @default DEFAULT_MAX_PENDING_BYTES */
  maxPendingBytes?: number;
  /**
   * Bytes of request bodies being read or processed at once; a batch that would take more gets
   * 503, unless it is the only one. @default maxBodyBytes
   */
  maxInflightBytes?: number;
  /** 408 when a request body sends no byte for this long. @default DEFAULT_BODY_IDLE_TIMEOUT_MS (BODY_IDLE_TIMEOUT_MS) */
  bodyIdleTimeoutMs?: number;
  /** 408 when a request body has not arrived whole this long after it began. @default DEFAULT_BODY_TIMEOUT_MS (BODY_TIMEOUT_MS) */
  bodyTimeoutMs?: number;
  /** Retry-After seconds on 503. client-go re-posts within the same attempt. @default 1 */
  retryAfterSeconds?: number;
  /** True once shutdown has begun: readiness fails and new batches get 503. */
  draining?: () => boolean;
  /** The bearer token requests must carry, or undefined when auth is off. Read per request, so it can rotate. */
  authToken?: () => string | undefined;
  metrics?: Metrics;
  /**
   * Serve `GET /metrics` here (behind the token). False when a metrics port of its own serves
   * them (`createMetricsApp`), so that scrapers need no access to the ingest port. @default true
   */
  serveMetrics?: boolean;
  /** Clock for request durations, in milliseconds. @default performance.now */
  now?: () => number;
  /**
   * Reads a receive request's body, as `readBody` does (limit, statuses, timeouts, `onRead`),
   * into an array of its own: one of 4 MiB or more is detached once its batch is answered.
   * Node's adapter reads Node's own request instead of `c.req.raw.body`. @default readBody on `c.req.raw`
   */
  readBody?: BodyReader;
}

/** Reads the body of the request `c` carries; see `AppOptions.readBody`. */
export type BodyReader = (c: Context, limit: number, options: ReadBodyOptions) => Promise<Uint8Array>;

const readWebBody: BodyReader = (c, limit, options) => readBody(c.req.raw, limit, options);

/** Invalid items of a batch whose index and reason are logged; the rest are counted. */
const INVALID_ITEMS_LOGGED = 5;
/**
 * Bytes of lines made and written at a time: a large batch's lines are never all in memory
 * beside its body.
 */
const SLICE_BYTES = 1 << 20;
/** What a line adds to an event's received bytes: `{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1"`, a newline. */
const PREFIX_BYTES = 64;
/** Output arrays (of SLICE_BYTES) kept for later requests; concurrent requests beyond take new ones. */
const SPARE_OUTPUTS = 4;

/**
 * A body this large is freed as soon as its batch is answered, by detaching its array's memory,
 * rather than at V8's next full collection: back-to-back batches would otherwise hold two bodies.
 * Arrays up to this size are kept for the next bodies instead, up to SPARE_BODIES of them.
 */
const RELEASE_BODY_BYTES = 4 * 1024 * 1024;
const SPARE_BODIES = 4;

/**
 * Body readers return a body in an array of its own, which nothing holds once it is answered
 * (events are views of it, and their lines are copies); the array goes back to `pool`, or is freed.
 */
function releaseBody(body: Uint8Array, pool: BodyPool): void {
  if (body.byteLength < RELEASE_BODY_BYTES) {
    pool.give(body);
    return;
  }
  const buffer = body.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
  // ES2024 (Node 22+, Bun): the memory is freed at once. Node 20 moves it to a clone, which the
  // next young-generation collection frees.
  if (typeof buffer.transfer === 'function') buffer.transfer(0);
  else structuredClone(buffer, { transfer: [buffer] });
}

/** Receive paths: `/` and `/audit` (webhook URL without or with a path), `/post` (IKS service proxy). */
export const RECEIVE_PATHS = ['/', '/post', '/audit', '/audit/:cluster'] as const;

/** A cluster name as a path segment: what Kubernetes allows in a name (a DNS subdomain), and dots. */
const ClusterParam = z.object({
  cluster: z
    .string()
    .regex(
      /^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/,
      'cluster must be 1-253 letters, digits, ".", "_" or "-"',
    ),
});

/**
 * @example
 * const app = createApp({ pipeline: createPipeline(), sink, logger });
 * const response = await app.request('/audit', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
 */
export function createApp(options: AppOptions): Hono {
  const {
    pipeline,
    sink,
    logger,
    metrics,
    maxBodyBytes = DEFAULT_MAX_BODY_BYTES,
    maxPendingBytes = DEFAULT_MAX_PENDING_BYTES,
    maxInflightBytes = maxBodyBytes,
    bodyIdleTimeoutMs = DEFAULT_BODY_IDLE_TIMEOUT_MS,
    bodyTimeoutMs = DEFAULT_BODY_TIMEOUT_MS,
    retryAfterSeconds = 1,
    draining = () => false,
    authToken = () => undefined,
    serveMetrics = true,
    now = () => performance.now(),
    readBody: readRequestBody = readWebBody,
  } = options;
  const unavailable = (message: string) =>
    new ReceiverError(503, message, { 'Retry-After': String(retryAfterSeconds) });

  const app = new Hono();
  /** Body bytes held by receive requests now: a batch takes a few times its size in memory until answered. */
  let inflightBytes = 0;
  /** Output arrays of finished requests, for the next ones. */
  const spareOutputs: Uint8Array[] = [];
  /** Body arrays of answered requests, for the next bodies. */
  const bodies = new BodyPool(SPARE_BODIES, RELEASE_BODY_BYTES);

  app.onError(function handleError(error, c) {
    if (error instanceof ReceiverError) {
      return c.json({ error: error.message }, error.status, error.headers);
    }
    logger.error('request failed', { error, path: c.req.path });
    return c.json({ error: 'internal error' }, 500);
  });
  app.notFound((c) => c.json({ error: 'not found' }, 404));

  // Metrics and duration wrap every route, so errors are counted by status too.
  app.use('*', async function measure(c, next) {
    const started = now();
    await next();
    metrics?.request(c.res.status, (now() - started) / 1000);
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) =>
    draining()
      ? c.json({ status: 'draining' }, 503, { 'Retry-After': String(retryAfterSeconds) })
      : c.json({ status: 'ready' }),
  );

  const requireToken = (request: Request) => {
    const expected = authToken();
    if (expected === undefined) return;
    const header = request.headers.get('authorization') ?? '';
    const match = /^Bearer +(\S+)\s*$/i.exec(header);
    if (!match || !timingSafeEqual(match[1] as string, expected))
      throw new ReceiverError(401, 'missing or wrong bearer token', { 'WWW-Authenticate': 'Bearer' });
  };

  if (serveMetrics) {
    app.get('/metrics', async (c) => {
      requireToken(c.req.raw);
      return renderMetrics(c, metrics);
    });
  }

  async function receive(c: Context, cluster: string | undefined): Promise<BatchCounts> {
    // Headers only: on Node, the body of c.req.raw would make @hono/node-server build a Request
    // and a web stream that the Node reader does without.
    const request = c.req.raw;
    requireToken(request);
    if (draining()) throw unavailable('shutting down');
    if (!isJsonContentType(request.headers.get('content-type')))
      throw new ReceiverError(415, 'Content-Type must be application/json');
    if (sink.pendingBytes > maxPendingBytes) throw unavailable('output is backed up');

    let held = 0;
    // Past the budget a batch waits for its retry, unless nothing else is held: any batch up to
    // maxBodyBytes gets through on its own. Declared sizes are checked, never reserved.
    const admit = (bytes: number) => {
      if (inflightBytes + bytes > maxInflightBytes && inflightBytes > held)
        throw unavailable('too many bytes in flight');
    };
    admit(Number(request.headers.get('content-length')) || 0);
    let body: Uint8Array | undefined;
    try {
      body = await readRequestBody(c, maxBodyBytes, {
        pool: bodies,
        onRead(bytes) {
          admit(bytes);
          held += bytes;
          inflightBytes += bytes;
        },
        idleTimeoutMs: bodyIdleTimeoutMs,
        timeoutMs: bodyTimeoutMs,
      });
      return await writeBatch(body, cluster);
    } finally {
      inflightBytes -= held;
      if (body) releaseBody(body, bodies);
    }
  }

  async function writeBatch(body: Uint8Array, cluster: string | undefined): Promise<BatchCounts> {
    let payload: ReturnType<typeof parsePayload>;
    try {
      // Only the first few invalid items are logged; the rest are counted, not kept.
      payload = parsePayload(body, { maxInvalidItems: INVALID_ITEMS_LOGGED });
    } catch (error) {
      if (error instanceof PayloadError) throw new ReceiverError(400, error.message);
      throw error;
    }
    if (payload.invalidCount > 0) {
      // One line per batch, with reasons and positions only: an item is never copied to stderr,
      // since it can hold a Secret's data, and a million invalid items must not mean a million lines.
      logger.warn('invalid audit events', {
        count: payload.invalidCount,
        first: payload.invalid.map((item) => ({ index: item.index, reason: item.reason })),
        cluster,
      });
    }
    const events = payload.events;
    const counts: Mutable<BatchCounts> = {
      received: payload.invalidCount,
      written: 0,
      dropped: { policy: 0, duplicate: 0 },
      invalid: payload.invalidCount,
      truncated: 0,
      cut: 0,
      redacted: 0,
    };
    const done: BatchResult[] = [];
    // One array for every slice's lines, each slice written before the next is made; arrays are
    // kept for the next requests, so that batch after batch allocates no new memory for lines.
    // (After a failed write the array is not reused: the stream may still hold it.)
    const output = events.length > 0 ? (spareOutputs.pop() ?? new Uint8Array(SLICE_BYTES)) : undefined;
    for (let from = 0; from < events.length; ) {
      const to = sliceEnd(events, from);
      const result = pipeline.process({ events: events.slice(from, to) }, { cluster, output });
      done.push(result);
      add(counts, result);
      try {
        for (const chunk of result.chunks) await sink.write(chunk);
      } catch (error) {
        // Not written: no 200, and the retry must not be taken for a duplicate.
        for (const part of done) pipeline.release(part);
        logger.error('output write failed', { error });
        throw unavailable('output is not writable');
      }
      from = to;
    }
    if (output && spareOutputs.length < SPARE_OUTPUTS) spareOutputs.push(output);
    return counts;
  }

  const answer = (result: BatchCounts) => ({
    received: result.received,
    written: result.written,
    dropped: result.dropped,
    invalid: result.invalid,
  });

  for (const path of RECEIVE_PATHS) {
    if (path === '/audit/:cluster') {
      app.post(
        path,
        zValidator('param', ClusterParam, (result) => {
          if (!result.success) throw new ReceiverError(400, result.error.issues[0]?.message ?? 'invalid cluster');
        }),
        async (c) => {
          const result = await receive(c, c.req.valid('param').cluster);
          metrics?.batch(result);
          return c.json(answer(result));
        },
      );
    } else {
      app.post(path, async (c) => {
        const result = await receive(c, undefined);
        metrics?.batch(result);
        return c.json(answer(result));
      });
    }
  }

  // A known path with the wrong method: 405 with Allow (RFC 9110 §15.5.6).
  for (const [path, allow] of [
    ...RECEIVE_PATHS.map((p) => [p, 'POST'] as const),
    ['/healthz', 'GET, HEAD'] as const,
    ['/readyz', 'GET, HEAD'] as const,
    ...(serveMetrics ? [['/metrics', 'GET, HEAD'] as const] : []),
  ]) {
    app.all(path, (c) => c.json({ error: 'method not allowed' }, 405, { Allow: allow }));
  }

  return app;
}

async function renderMetrics(c: Context, metrics: Metrics | undefined): Promise<Response> {
  if (!metrics) return c.json({ error: 'metrics are not enabled' }, 404);
  const { contentType, text } = await metrics.render();
  return c.body(text, 200, { 'Content-Type': contentType });
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

/** Where the slice of events from `from` ends: lines of about SLICE_BYTES, at least one event. */
function sliceEnd(events: readonly AuditEvent[], from: number): number {
  const first = events[from] as AuditEvent;
  let to = from + 1;
  while (to < events.length) {
    const event = events[to] as AuditEvent;
    if (event.source !== first.source || event.end - first.start + (to + 1 - from) * PREFIX_BYTES > SLICE_BYTES) break;
    to++;
  }
  return to;
}

/** Add a slice's counts to the batch's. */
function add(counts: Mutable<BatchCounts>, result: BatchResult): void {
  counts.received += result.received;
  counts.written += result.written;
  counts.dropped.policy += result.dropped.policy;
  counts.dropped.duplicate += result.dropped.duplicate;
  counts.truncated += result.truncated;
  counts.cut += result.cut;
  counts.redacted += result.redacted;
}

/**
 * The app of the metrics port (`METRICS_PORT`): `GET /metrics` and nothing else, without the
 * token. The port is meant for scrapers that a NetworkPolicy lets in; it takes no events, so the
 * ingest token need not be handed to them.
 *
 * @example
 * const metricsApp = createMetricsApp({ metrics });
 */
export function createMetricsApp(options: { metrics?: Metrics; logger?: Logger }): Hono {
  const app = new Hono();
  app.onError(function handleError(error, c) {
    options.logger?.error('request failed', { error, path: c.req.path });
    return c.json({ error: 'internal error' }, 500);
  });
  app.notFound((c) => c.json({ error: 'not found' }, 404));
  app.get('/metrics', (c) => renderMetrics(c, options.metrics));
  app.all('/metrics', (c) => c.json({ error: 'method not allowed' }, 405, { Allow: 'GET, HEAD' }));
  return app;
}

/** Compare in time that depends only on the lengths, not on where the strings differ. */
export function timingSafeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i % (b.length || 1));
  return diff === 0;
}

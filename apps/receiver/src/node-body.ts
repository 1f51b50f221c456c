/**
 * @module
 * The Node reader of request bodies: the same limits, errors and statuses as `readBody`, read
 * from Node's request (`IncomingMessage`) directly. Through the `Request` that @hono/node-server
 * builds on demand, every chunk crossed a web stream adapter and a promise; here it is copied
 * from the socket's chunk into the body's array and dropped.
 */
import type { IncomingMessage } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createGunzip, type ZlibOptions } from 'node:zlib';
import { BodyBuffer, BodyTimeouts, checkBodyHeaders, notGzip, type ReadBodyOptions } from './body';

/**
 * As `DecompressionStream('gzip')` on Node 24, which rejects bytes after the gzip stream's end
 * (Node 20 does not know the option, and ignores it).
 */
const GUNZIP_OPTIONS = { rejectGarbageAfterEnd: true } as ZlibOptions;

/**
 * A body arrives in the socket's reads of up to 64 KiB, each garbage once copied into the body's
 * array, but freed only at V8's next collection; reading a body allocates little on the heap, so
 * none comes, and a 30 MiB body was held twice (its array, and its reads) until V8's limit on
 * external memory forced one. A young-generation collection every `COLLECT_EVERY` bytes (about a
 * millisecond; only bodies past that size see one) frees them as the body arrives.
 */
const COLLECT_EVERY = 4 * 1024 * 1024;

/** V8's young-generation collection, through `gc` (exposed to new contexts from now on). */
function youngCollector(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (options: { type: 'minor' }) => void;
  return () => gc({ type: 'minor' });
}

let collectYoung: (() => void) | undefined;

/**
 * @throws {ReceiverError} as `readBody`; and the request's own error (or "aborted") when the
 *   client goes away before the body is whole, as the web stream did.
 */
export async function readNodeBody(
  incoming: IncomingMessage,
  limit: number,
  options: ReadBodyOptions,
): Promise<Uint8Array> {
  const { gzip, expected } = checkBodyHeaders(
    incoming.headers['content-encoding'],
    incoming.headers['content-length'],
    limit,
  );
  const body = new BodyBuffer(limit, expected, options.onRead, options.pool);
  return new Promise<Uint8Array>((resolve, reject) => {
    const gunzip = gzip ? createGunzip(GUNZIP_OPTIONS) : undefined;
    const source = gunzip ?? incoming;
    let settled = false;
    let collectAt = COLLECT_EVERY;
    let read = 0;
    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      timeouts.stop();
      source.off('data', take);
      source.off('end', settle);
      incoming.off('data', touch);
      incoming.off('error', settle);
      incoming.off('close', closed);
      if (gunzip) {
        incoming.unpipe(gunzip);
        gunzip.off('error', badGzip);
        gunzip.on('error', () => {});
        gunzip.destroy();
      }
      if (error === undefined) return resolve(body.bytes());
      // What is left of a body not read is @hono/node-server's to drain (up to its limits) once
      // the answer is sent, or the connection's to close (408); not ours to keep flowing.
      incoming.pause();
      reject(error);
    };
    const touch = () => timeouts.touch();
    const take = (chunk: Buffer) => {
      timeouts.touch();
      try {
        body.add(chunk);
      } catch (error) {
        settle(error);
        return;
      }
      read += chunk.length;
      if (read >= collectAt) {
        collectAt = read + COLLECT_EVERY;
        collectYoung ??= youngCollector();
        collectYoung();
      }
    };
    const badGzip = () => settle(notGzip());
    const closed = () => {
      if (!incoming.readableEnded) settle(incoming.errored ?? new Error('aborted'));
    };
    const timeouts = new BodyTimeouts(options, settle);

    if (gunzip) {
      // Idle time counts raw bytes; the limit counts what they expand to.
      incoming.on('data', touch);
      gunzip.on('error', badGzip);
      incoming.pipe(gunzip);
    }
    source.on('data', take);
    source.on('end', settle);
    incoming.on('error', settle);
    incoming.on('close', closed);
    if (incoming.destroyed) closed();
  });
}

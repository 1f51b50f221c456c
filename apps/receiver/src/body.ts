/**
 * @module
 * Read a request body into one byte array under a byte limit, with web-standard streams only (so the
 * app runs on Node, Bun and edge runtimes alike). The limit counts decompressed bytes: a small
 * gzip body can expand a thousandfold.
 */
import { CLOSE_CONNECTION, ReceiverError } from './http-error';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** `application/json`, with or without parameters, or any `application/…+json`. */
export function isJsonContentType(value: string | null): boolean {
  return value !== null && JSON_TYPE.test(value.trim());
}

export interface ReadBodyOptions {
  /** Called with each piece's (decompressed) size before it is kept; what it throws stops the read, as the limit does. */
  onRead?: (bytes: number) => void;
  /** 408 when no byte arrives for this long (BODY_IDLE_TIMEOUT_MS). */
  idleTimeoutMs: number;
  /** 408 when the whole body has not arrived this long after the read began (BODY_TIMEOUT_MS). */
  timeoutMs: number;
}

/**
 * The bytes are not decoded: the parser validates them as UTF-8 and JSON in place.
 *
 * @throws {ReceiverError} 413 past `limit`, 415 for an unsupported Content-Encoding, 400 for a
 *   body that is not valid gzip, 408 for a body that stalls or is too slow.
 */
export async function readBody(request: Request, limit: number, options: ReadBodyOptions): Promise<Uint8Array> {
  const { onRead = () => {}, idleTimeoutMs, timeoutMs } = options;
  const encoding = request.headers.get('content-encoding')?.trim().toLowerCase() || 'identity';
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip')
    throw new ReceiverError(415, 'Content-Encoding must be gzip or identity');
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (declared > limit) throw tooLarge(limit);
  if (!request.body) return new Uint8Array(0);

  const stream = encoding === 'identity' ? request.body : request.body.pipeThrough(new DecompressionStream('gzip'));
  // Size the buffer from Content-Length, so a large body is held once rather than as chunks plus
  // a copy; but only up to 4 MiB before the bytes arrive, so a lying header cannot reserve memory.
  const expected = encoding === 'identity' && declared > 0 ? declared : 0;
  let buffer = new Uint8Array(Math.min(expected || 64 * 1024, 4 * 1024 * 1024));
  let length = 0;
  const reader = stream.getReader();
  const deadline = Date.now() + timeoutMs;
  // A body that stops arriving would hold its bytes (and the in-flight budget) and its connection
  // until the runtime's own timeout, which Bun does not have; the API server gives up after 30 s.
  // One timer per body: it fires at the earlier of the idle limit and the deadline, and re-arms
  // itself while bytes keep arriving.
  let lastByte = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    const check = () => {
      const now = Date.now();
      if (now >= deadline)
        reject(new ReceiverError(408, `body did not arrive within ${timeoutMs} ms`, CLOSE_CONNECTION));
      else if (now - lastByte >= idleTimeoutMs)
        reject(new ReceiverError(408, `no body bytes for ${idleTimeoutMs} ms`, CLOSE_CONNECTION));
      else timer = setTimeout(check, Math.min(lastByte + idleTimeoutMs, deadline) - now);
    };
    timer = setTimeout(check, Math.min(idleTimeoutMs, timeoutMs));
  });
  timedOut.catch(() => {}); // raced below; not a rejection of its own once the body is read
  const read = async () => {
    const result = await Promise.race([reader.read(), timedOut]);
    lastByte = Date.now();
    return result;
  };
  try {
    for (;;) {
      const { done, value } = await read();
      if (done) break;
      if (length + value.byteLength > limit) throw tooLarge(limit);
      onRead(value.byteLength);
      if (length + value.byteLength > buffer.length) {
        const needed = length + value.byteLength;
        const next = new Uint8Array(
          needed <= expected ? expected : Math.min(limit, Math.max(buffer.length * 2, needed)),
        );
        next.set(buffer.subarray(0, length));
        buffer = next;
      }
      buffer.set(value, length);
      length += value.byteLength;
    }
  } catch (error) {
    if (error instanceof ReceiverError) {
      // Not awaited: a stalled stream may never settle its cancellation.
      void reader.cancel().catch(() => {});
      throw error;
    }
    if (encoding !== 'identity') throw new ReceiverError(400, 'body is not valid gzip');
    throw error;
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  return buffer.subarray(0, length);
}

function tooLarge(limit: number): ReceiverError {
  return new ReceiverError(413, `body is larger than ${limit} bytes`);
}

/**
 * @module
 * Read a request body into one byte array under a byte limit, with web-standard streams only (so the
 * app runs on Node, Bun and edge runtimes alike). The limit counts decompressed bytes: a small
 * gzip body can expand a thousandfold.
 *
 * The checks of the headers, the array the bytes go into and the timeouts are shared with the
 * Node reader (`node-body.ts`), which reads Node's request without the web streams in between.
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
  /** Where the body's array is taken from (and handed back to, by the caller, once it is answered). */
  pool?: BodyPool;
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
  const { gzip, expected } = checkBodyHeaders(
    request.headers.get('content-encoding'),
    request.headers.get('content-length'),
    limit,
  );
  if (!request.body) return new Uint8Array(0);

  const stream = gzip ? request.body.pipeThrough(new DecompressionStream('gzip')) : request.body;
  const body = new BodyBuffer(limit, expected, options.onRead, options.pool);
  const reader = stream.getReader();
  let timeouts: BodyTimeouts | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timeouts = new BodyTimeouts(options, reject);
  });
  timedOut.catch(() => {}); // raced below; not a rejection of its own once the body is read
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), timedOut]);
      timeouts?.touch();
      if (done) break;
      body.add(value);
    }
  } catch (error) {
    if (error instanceof ReceiverError) {
      // Not awaited: a stalled stream may never settle its cancellation.
      void reader.cancel().catch(() => {});
      throw error;
    }
    if (gzip) throw notGzip();
    throw error;
  } finally {
    timeouts?.stop();
    reader.releaseLock();
  }
  return body.bytes();
}

/**
 * What the headers of a body say, checked before a byte of it is read.
 *
 * @returns whether it is gzip, and the size to expect (0 when unknown or compressed).
 * @throws {ReceiverError} 415 for a Content-Encoding other than gzip or identity, 413 for a
 *   Content-Length past `limit`.
 */
export function checkBodyHeaders(
  contentEncoding: string | null | undefined,
  contentLength: string | null | undefined,
  limit: number,
): { gzip: boolean; expected: number } {
  const encoding = contentEncoding?.trim().toLowerCase() || 'identity';
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip')
    throw new ReceiverError(415, 'Content-Encoding must be gzip or identity');
  const declared = Number(contentLength ?? Number.NaN);
  if (declared > limit) throw tooLarge(limit);
  const gzip = encoding !== 'identity';
  return { gzip, expected: !gzip && declared > 0 ? declared : 0 };
}

/**
 * The bytes of a body as they arrive, in one array. It is sized from Content-Length, so a large
 * body is held once rather than as chunks plus a copy; but only up to 4 MiB before the bytes
 * arrive, so a lying header cannot reserve memory.
 */
export class BodyBuffer {
  private buffer: Uint8Array;
  private length = 0;

  constructor(
    private readonly limit: number,
    /** Content-Length of an uncompressed body, else 0. */
    private readonly expected: number,
    private readonly onRead: (bytes: number) => void = () => {},
    private readonly pool?: BodyPool,
  ) {
    this.buffer = this.#array(Math.min(expected || 64 * 1024, 4 * 1024 * 1024));
  }

  #array(size: number): Uint8Array {
    return this.pool ? this.pool.take(size) : new Uint8Array(size);
  }

  /**
   * Copies a (decompressed) piece in; the caller may reuse or drop it.
   *
   * @throws {ReceiverError} 413 past the limit; and what `onRead` throws.
   */
  add(piece: Uint8Array): void {
    const needed = this.length + piece.byteLength;
    if (needed > this.limit) throw tooLarge(this.limit);
    this.onRead(piece.byteLength);
    if (needed > this.buffer.length) {
      const next = this.#array(
        needed <= this.expected ? this.expected : Math.min(this.limit, Math.max(this.buffer.length * 2, needed)),
      );
      next.set(this.buffer.subarray(0, this.length));
      this.pool?.give(this.buffer);
      this.buffer = next;
    }
    this.buffer.set(piece, this.length);
    this.length = needed;
  }

  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}

/**
 * Arrays of bodies already answered, for the next bodies to be read into. A new array is memory
 * the kernel maps and zero-fills page by page, and that only a garbage collection gives back: at
 * a hundred 2 MB bodies a second that cost the receiver more CPU than validating the JSON in them.
 * Up to `keep` arrays of at most `maxBytes` are kept; larger bodies get arrays of their own.
 */
export class BodyPool {
  readonly #spare: Uint8Array[] = [];
  /** The arrays handed out by `take` and not given back: only these are taken back, once each. */
  readonly #out = new WeakSet<ArrayBufferLike>();

  constructor(
    private readonly keep: number,
    private readonly maxBytes: number,
  ) {}

  /** An array of at least `size` bytes, not zeroed: the smallest kept one that is large enough, or a new one. */
  take(size: number): Uint8Array {
    const spare = this.#spare;
    let best = -1;
    for (let i = 0; i < spare.length; i++) {
      const length = (spare[i] as Uint8Array).length;
      if (length >= size && (best < 0 || length < (spare[best] as Uint8Array).length)) best = i;
    }
    const array = best < 0 ? new Uint8Array(size) : (spare.splice(best, 1)[0] as Uint8Array);
    this.#out.add(array.buffer);
    return array;
  }

  /**
   * Give back the array of `body` (a view of an array from `take`) for a later body. Whoever calls
   * this must hold no view of it any more. Other arrays, and an array given back twice, are ignored.
   */
  give(body: Uint8Array): void {
    const buffer = body.buffer;
    if (!this.#out.delete(buffer)) return;
    if (this.#spare.length < this.keep && buffer.byteLength <= this.maxBytes) this.#spare.push(new Uint8Array(buffer));
  }

  /** Bytes held for later bodies. */
  get keptBytes(): number {
    let bytes = 0;
    for (const array of this.#spare) bytes += array.length;
    return bytes;
  }
}

/**
 * A body that stops arriving would hold its bytes (and the in-flight budget) and its connection
 * until the runtime's own timeout, which Bun does not have; the API server gives up after 30 s.
 * One timer per body: it fires at the earlier of the idle limit and the deadline, and re-arms
 * itself while bytes keep arriving (`touch`). It calls `onTimeout` once, with a 408 that closes
 * the connection.
 */
export class BodyTimeouts {
  private readonly deadline: number;
  private lastByte = Date.now();
  private timer: ReturnType<typeof setTimeout>;

  constructor(
    private readonly options: Pick<ReadBodyOptions, 'idleTimeoutMs' | 'timeoutMs'>,
    private readonly onTimeout: (error: ReceiverError) => void,
  ) {
    this.deadline = this.lastByte + options.timeoutMs;
    this.timer = setTimeout(this.check, Math.min(options.idleTimeoutMs, options.timeoutMs));
  }

  /** Bytes arrived. */
  touch(): void {
    this.lastByte = Date.now();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private readonly check = () => {
    const { idleTimeoutMs, timeoutMs } = this.options;
    const now = Date.now();
    if (now >= this.deadline)
      this.onTimeout(new ReceiverError(408, `body did not arrive within ${timeoutMs} ms`, CLOSE_CONNECTION));
    else if (now - this.lastByte >= idleTimeoutMs)
      this.onTimeout(new ReceiverError(408, `no body bytes for ${idleTimeoutMs} ms`, CLOSE_CONNECTION));
    else this.timer = setTimeout(this.check, Math.min(this.lastByte + idleTimeoutMs, this.deadline) - now);
  };
}

export function notGzip(): ReceiverError {
  return new ReceiverError(400, 'body is not valid gzip');
}

function tooLarge(limit: number): ReceiverError {
  return new ReceiverError(413, `body is larger than ${limit} bytes`);
}

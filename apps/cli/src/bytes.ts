/**
 * @module
 * The bytes of one input: a file, or stdin for `-`, gunzipped when they start with gzip's magic
 * bytes (rotated audit logs are often `.gz`; the name is not trusted, the content is).
 */
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { pipeline, Readable } from 'node:stream';
import type * as Zlib from 'node:zlib';

// node:zlib is required when a gzip input is met, not imported: most logs are plain text, and
// loading zlib costs every run about 2 MB.
const require = createRequire(import.meta.url);

/** The file name that stands for standard input. */
export const STDIN = '-';

/**
 * Read size for files. Each chunk is decoded and split at once, so its text must stay below V8's
 * large-object size (128 KiB): larger strings are freed only by a full collection, and 1 MiB
 * reads made `process` both slower and larger than 64 KiB reads.
 */
const READ_SIZE = 1 << 16;

export interface ReadBytesOptions {
  stdin: NodeJS.ReadableStream;
  /** Called with the size of each chunk read from the file itself (compressed bytes for gzip). */
  onRead?: ((bytes: number) => void) | undefined;
}

/**
 * The decompressed bytes of `file` as a stream of chunks.
 *
 * @example
 * for await (const chunk of readBytes('audit.log.1.gz', { stdin: process.stdin })) total += chunk.length;
 */
export async function* readBytes(file: string, options: ReadBytesOptions): AsyncGenerator<Buffer> {
  const source = file === STDIN ? options.stdin : createReadStream(file, { highWaterMark: READ_SIZE });
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const onRead = options.onRead;

  // Stdin may deliver a single byte first: gather two before deciding.
  let head: Buffer = Buffer.alloc(0);
  while (head.length < 2) {
    const next = await chunks.next();
    if (next.done) break;
    onRead?.(next.value.length);
    head = head.length === 0 ? next.value : Buffer.concat([head, next.value]);
  }
  async function* all(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    for (;;) {
      const next = await chunks.next();
      if (next.done) return;
      onRead?.(next.value.length);
      yield next.value;
    }
  }

  // RFC 1952 §2.3.1: ID1 = 0x1f, ID2 = 0x8b. Gunzip reads concatenated members too (`cat a.gz b.gz`).
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = pipeline(
      Readable.from(all(), { objectMode: false }),
      (require('node:zlib') as typeof Zlib).createGunzip({ chunkSize: 256 * 1024 }),
      () => {
        // Errors surface through the iteration below.
      },
    );
    for await (const chunk of gunzip) yield chunk as Buffer;
  } else {
    yield* all();
  }
}

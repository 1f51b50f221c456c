/**
 * @module
 * The bytes of one input: a file, or stdin for `-`, gunzipped when they start with gzip's magic
 * bytes (rotated audit logs are often `.gz`; the name is not trusted, the content is).
 */
import { readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { pipeline, Readable } from 'node:stream';
import type * as Zlib from 'node:zlib';

// node:zlib is required when a gzip input is met, not imported: most logs are plain text, and
// loading zlib costs every run about 2 MB.
const require = createRequire(import.meta.url);

/** The file name that stands for standard input. */
export const STDIN = '-';

/**
 * Read size for files. Chunks are parsed as bytes, a block of lines at a time (when they were
 * decoded, their text had to stay below V8's large-object size, 128 KiB).
 */
const READ_SIZE = 1 << 18;

export interface ReadBytesOptions {
  stdin: NodeJS.ReadableStream;
  /** Called with the size of each chunk read from the file itself (compressed bytes for gzip). */
  onRead?: ((bytes: number) => void) | undefined;
  /**
   * Read a plain file into the same memory each time: a chunk is valid only until the next is
   * asked for. New memory per read takes its pages afresh each time (and holds more of them at
   * once), which cost a large log a tenth of its time. Not for gzip, nor stdin. @default false
   */
  reuse?: boolean | undefined;
}

/**
 * The decompressed bytes of `file` as a stream of chunks.
 *
 * @example
 * for await (const chunk of readBytes('audit.log.1.gz', { stdin: process.stdin })) total += chunk.length;
 */
export async function* readBytes(file: string, options: ReadBytesOptions): AsyncGenerator<Buffer> {
  let gzip = false;
  const chunks =
    file === STDIN
      ? (options.stdin[Symbol.asyncIterator]() as AsyncIterator<Buffer>)
      : readChunks(file, () => !!options.reuse && !gzip);
  const onRead = options.onRead;

  // Stdin may deliver a single byte first: gather two before deciding (copied, as a file's
  // chunk may be read into the same memory).
  let head: Buffer = Buffer.alloc(0);
  while (head.length < 2) {
    const next = await chunks.next();
    if (next.done) break;
    onRead?.(next.value.length);
    head = head.length === 0 && next.value.length >= 2 ? next.value : Buffer.concat([head, next.value]);
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
    // Gunzip may still hold a chunk when the next is read.
    gzip = true;
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

/**
 * The chunks of a file, each read into the memory of the one before when `reuse()` says so. A
 * regular file is read synchronously: a read of it does not wait on anything but the disk, and
 * going through the thread pool for each cost a large log a tenth of its time. Anything else (a
 * FIFO, `<(…)`, a device) may wait for ever, and is read without holding up the event loop.
 */
async function* readChunks(file: string, reuse: () => boolean): AsyncGenerator<Buffer> {
  const handle = await open(file, 'r');
  try {
    const regular = (await handle.stat()).isFile();
    let memory: Buffer | undefined;
    for (;;) {
      if (memory === undefined || !reuse()) memory = Buffer.allocUnsafeSlow(READ_SIZE);
      const bytesRead = regular
        ? readSync(handle.fd, memory, 0, READ_SIZE, null)
        : (await handle.read(memory, 0, READ_SIZE, null)).bytesRead;
      if (bytesRead === 0) return;
      yield memory.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

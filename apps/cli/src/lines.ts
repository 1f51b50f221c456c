/**
 * @module
 * Split bytes into lines without holding more than one chunk and one partial line. Splitting on
 * the LF byte is safe before decoding: in UTF-8 it never occurs inside a multi-byte character.
 */

/**
 * The longest line read: the receiver's default MAX_BODY_BYTES (32 MiB), the largest webhook body
 * and so the largest event that a receiver takes. A longer line is not an audit event this
 * project can have written or can replay, and a source without newlines (`/dev/zero`, a binary
 * file) would otherwise be read for ever.
 */
export const MAX_LINE_BYTES = 32 * 1024 * 1024;

/** A line passed the limit: reading stops there. */
export class LineTooLongError extends Error {
  override readonly name = 'LineTooLongError';
  constructor(
    /** 1-based number of the line. */
    readonly line: number,
    /** Byte offset (of the decompressed input) where the line starts. */
    readonly offset: number,
    readonly limit: number,
  ) {
    super(`line ${line} (from byte ${offset}) is longer than ${limit} bytes`);
  }
}

/**
 * The lines of a byte stream, an array per chunk read (blank lines included, so that callers can
 * count line numbers). A final line without `\n` is a line too.
 *
 * @throws {LineTooLongError} as soon as a line passes `maxLineBytes`, without reading further.
 * @example
 * for await (const lines of splitLines(readBytes('audit.log', io))) for (const line of lines) count++;
 */
export async function* splitLines(
  chunks: AsyncIterable<Buffer>,
  maxLineBytes = MAX_LINE_BYTES,
): AsyncGenerator<string[]> {
  /** Pieces of the line still open at the end of the previous chunk. */
  let carry: Buffer[] = [];
  let carried = 0;
  /** Lines completed so far, and the byte offset where the open line starts. */
  let lineCount = 0;
  let lineStart = 0;
  let chunkStart = 0;
  const tooLong = () => new LineTooLongError(lineCount + 1, lineStart, maxLineBytes);

  for await (const chunk of chunks) {
    const lines: string[] = [];
    let start = 0;
    if (carried > 0) {
      const end = chunk.indexOf(10);
      if (end === -1) {
        carry.push(chunk);
        carried += chunk.length;
        if (carried > maxLineBytes) throw tooLong();
        chunkStart += chunk.length;
        continue;
      }
      if (carried + end > maxLineBytes) throw tooLong();
      lines.push(Buffer.concat([...carry, chunk.subarray(0, end)]).toString('utf8'));
      [carry, carried] = [[], 0];
      start = end + 1;
      lineCount++;
      lineStart = chunkStart + start;
    }
    const last = chunk.lastIndexOf(10);
    if (last >= start) {
      // One decode and one native split per chunk: far cheaper than a decode per line.
      const split = chunk.toString('utf8', start, last).split('\n');
      // A complete line is shorter than its chunk: only a chunk past the limit needs a look.
      if (last - start > maxLineBytes) {
        let offset = chunkStart + start;
        for (const [index, line] of split.entries()) {
          const bytes = Buffer.byteLength(line);
          if (bytes > maxLineBytes) throw new LineTooLongError(lineCount + index + 1, offset, maxLineBytes);
          offset += bytes + 1;
        }
      }
      for (const line of split) lines.push(line);
      lineCount += split.length;
      start = last + 1;
      lineStart = chunkStart + start;
    }
    if (start < chunk.length) {
      carry = [chunk.subarray(start)];
      carried = chunk.length - start;
      if (carried > maxLineBytes) throw tooLong();
    }
    chunkStart += chunk.length;
    if (lines.length > 0) yield lines;
  }
  if (carried > 0) yield [Buffer.concat(carry).toString('utf8')];
}

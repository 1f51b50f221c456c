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
 * The lines of a byte stream as bytes (views of the chunks read; a line across chunks is joined),
 * an array per chunk read (blank lines included, so that callers can count line numbers). A final
 * line without `\n` is a line too. Nothing is decoded: the parser reads UTF-8 bytes itself.
 *
 * @throws {LineTooLongError} as soon as a line passes `maxLineBytes`, without reading further.
 * @example
 * for await (const lines of splitLines(readBytes('audit.log', io))) for (const line of lines) count++;
 */
export async function* splitLines(
  chunks: AsyncIterable<Buffer>,
  maxLineBytes = MAX_LINE_BYTES,
): AsyncGenerator<Buffer[]> {
  /** Pieces of the line still open at the end of the previous chunk. */
  let carry: Buffer[] = [];
  let carried = 0;
  /** Lines completed so far, and the byte offset where the open line starts. */
  let lineCount = 0;
  let lineStart = 0;
  let chunkStart = 0;
  const tooLong = () => new LineTooLongError(lineCount + 1, lineStart, maxLineBytes);

  for await (const chunk of chunks) {
    const lines: Buffer[] = [];
    let start = 0;
    let end = chunk.indexOf(10);
    if (carried > 0) {
      if (end === -1) {
        carry.push(chunk);
        carried += chunk.length;
        if (carried > maxLineBytes) throw tooLong();
        chunkStart += chunk.length;
        continue;
      }
      if (carried + end > maxLineBytes) throw tooLong();
      lines.push(Buffer.concat([...carry, chunk.subarray(0, end)]));
      [carry, carried] = [[], 0];
      start = end + 1;
      lineCount++;
      lineStart = chunkStart + start;
      end = chunk.indexOf(10, start);
    }
    for (; end !== -1; end = chunk.indexOf(10, start)) {
      if (end - start > maxLineBytes) throw tooLong();
      lines.push(chunk.subarray(start, end));
      lineCount++;
      start = end + 1;
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
  if (carried > 0) yield [Buffer.concat(carry)];
}

/** True for a line of whitespace only (or none). */
export function isBlank(line: Uint8Array): boolean {
  for (const c of line) if (c !== 32 && c !== 9 && c !== 13 && c !== 10) return false;
  return true;
}

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
 * A byte stream in blocks of whole lines, each block ending with its last line's `\n` (the final
 * block of the input may end with a line without one): per chunk read, a view of the lines it
 * completes, after the line it finishes joined with the pieces of it read before (its own block).
 * No block refers to a chunk before the last one read.
 * Nothing is decoded: the parser reads UTF-8 bytes itself, many lines at a time.
 *
 * @throws {LineTooLongError} as soon as a line passes `maxLineBytes`, without reading further.
 * @example
 * for await (const blocks of splitLineBlocks(readBytes('audit.log', io))) for (const block of blocks) parse(block);
 */
export async function* splitLineBlocks(
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
    const blocks: Buffer[] = [];
    let end = chunk.indexOf(10);
    // What is carried is copied: the chunk's memory may be read into again (see ./bytes).
    if (end === -1) {
      carry.push(Buffer.from(chunk));
      carried += chunk.length;
      if (carried > maxLineBytes) throw tooLong();
      chunkStart += chunk.length;
      continue;
    }
    let start = 0;
    if (carried > 0) {
      if (carried + end > maxLineBytes) throw tooLong();
      blocks.push(Buffer.concat([...carry, chunk.subarray(0, end + 1)]));
      [carry, carried] = [[], 0];
      start = end + 1;
      lineCount++;
      lineStart = chunkStart + start;
      end = chunk.indexOf(10, start);
    }
    // Lines are counted (and measured) for the message of a line that is too long.
    const from = start;
    for (; end !== -1; end = chunk.indexOf(10, start)) {
      if (end - start > maxLineBytes) throw tooLong();
      lineCount++;
      start = end + 1;
      lineStart = chunkStart + start;
    }
    if (start > from) blocks.push(chunk.subarray(from, start));
    if (start < chunk.length) {
      carry = [Buffer.from(chunk.subarray(start))];
      carried = chunk.length - start;
      if (carried > maxLineBytes) throw tooLong();
    }
    chunkStart += chunk.length;
    yield blocks;
  }
  if (carried > 0) yield [Buffer.concat(carry)];
}

/** The lines of a block (views of it), without their `\n`, blank lines included; added to `lines` when given. */
export function linesOf(block: Buffer, lines: Buffer[] = []): Buffer[] {
  let start = 0;
  for (let end = block.indexOf(10); end !== -1; end = block.indexOf(10, start)) {
    lines.push(block.subarray(start, end));
    start = end + 1;
  }
  if (start < block.length) lines.push(block.subarray(start));
  return lines;
}

/** True for a line of whitespace only (or none). */
export function isBlank(line: Uint8Array): boolean {
  for (const c of line) if (c !== 32 && c !== 9 && c !== 13 && c !== 10) return false;
  return true;
}

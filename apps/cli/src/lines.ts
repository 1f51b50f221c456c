/**
 * @module
 * Split bytes into lines without holding more than one chunk and one partial line. Splitting on
 * the LF byte is safe before decoding: in UTF-8 it never occurs inside a multi-byte character.
 */

/** Stands for a line longer than the limit; its content was skipped. */
export const OVERSIZED = Symbol('oversized line');
export type Line = string | typeof OVERSIZED;

/** Longer lines are skipped: far above any real audit event, well below V8's string limit. */
export const MAX_LINE_BYTES = 256 * 1024 * 1024;

/**
 * The lines of a byte stream, an array per chunk read (blank lines included, so that callers can
 * count line numbers). A final line without `\n` is a line too.
 *
 * @example
 * for await (const lines of splitLines(readBytes('audit.log', io))) for (const line of lines) count++;
 */
export async function* splitLines(
  chunks: AsyncIterable<Buffer>,
  maxLineBytes = MAX_LINE_BYTES,
): AsyncGenerator<Line[]> {
  /** Pieces of the line still open at the end of the previous chunk. */
  let carry: Buffer[] = [];
  let carried = 0;
  /** Inside a line that passed the limit: drop bytes up to its end. */
  let skipping = false;

  for await (const chunk of chunks) {
    const lines: Line[] = [];
    let start = 0;
    if (skipping || carried > 0) {
      const end = chunk.indexOf(10);
      if (end === -1) {
        if (!skipping) {
          carry.push(chunk);
          carried += chunk.length;
          if (carried > maxLineBytes) [skipping, carry, carried] = [true, [], 0];
        }
        continue;
      }
      if (skipping || carried + end > maxLineBytes) lines.push(OVERSIZED);
      else lines.push(Buffer.concat([...carry, chunk.subarray(0, end)]).toString('utf8'));
      [skipping, carry, carried] = [false, [], 0];
      start = end + 1;
    }
    const last = chunk.lastIndexOf(10);
    if (last >= start) {
      // One decode and one native split per chunk: far cheaper than a decode per line.
      for (const line of chunk.toString('utf8', start, last).split('\n')) lines.push(line);
      start = last + 1;
    }
    if (start < chunk.length) {
      carry = [chunk.subarray(start)];
      carried = chunk.length - start;
      if (carried > maxLineBytes) [skipping, carry, carried] = [true, [], 0];
    }
    if (lines.length > 0) yield lines;
  }
  if (skipping) yield [OVERSIZED];
  else if (carried > 0) yield [Buffer.concat(carry).toString('utf8')];
}

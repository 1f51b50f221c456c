/**
 * @module
 * Writing to stdout and stderr with backpressure: a multi-gigabyte log streams through in bounded
 * memory only if the reader waits while the writer's buffer is full.
 */
import { once } from 'node:events';
import type { InvalidInput } from './input';

/** Write `data`, and wait for 'drain' when the stream's buffer is full. */
export async function write(stream: NodeJS.WritableStream, data: string | Uint8Array): Promise<void> {
  if (data.length > 0 && !stream.write(data)) await once(stream, 'drain');
}

/**
 * Write `data` and wait until the stream is done with it (written, or failed), so that its memory
 * can be reused.
 */
export function writeAll(stream: NodeJS.WritableStream, data: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    // A failed write is reported by the stream's 'error' event.
    stream.write(data, () => resolve());
  });
}

/** True for the error a write gets when the reader has gone (`kube-audit process big.log | head`). */
export function isBrokenPipe(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

/**
 * True for a code unit a terminal may act on instead of showing: C0 controls, DEL, C1 controls
 * (U+0080–U+009F; U+009B is an 8-bit CSI), and the bidirectional marks, embeddings, overrides and
 * isolates that reorder what is shown (Unicode TR #9; "Trojan Source", CVE-2021-42574).
 */
function isUnsafe(code: number): boolean {
  return (
    code < 0x20 ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x200e ||
    code === 0x200f ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

/**
 * `text` with every character a terminal could act on written as an escape (`\u001b`, `\n`), so
 * that values from a log (user names, paths, auditIDs) or from the command line (file names)
 * are shown, never executed. With `keepNewlines`, `\n` stays (multi-line messages of our own).
 *
 * @example
 * escapeControl('evil\u001b]0;title\u0007') // 'evil\\u001b]0;title\\u0007'
 */
export function escapeControl(text: string, keepNewlines = false): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (!isUnsafe(code) || (keepNewlines && code === 10)) continue;
    out += text.slice(from, i);
    out += code === 10 ? '\\n' : code === 13 ? '\\r' : code === 9 ? '\\t' : `\\u${code.toString(16).padStart(4, '0')}`;
    from = i + 1;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** Report invalid input on stderr as `FILE:LINE: reason`, one line each. */
export async function reportInvalid(stderr: NodeJS.WritableStream, invalid: readonly InvalidInput[]): Promise<void> {
  if (invalid.length === 0) return;
  let text = '';
  for (const item of invalid) text += `${escapeControl(item.where)}: ${escapeControl(item.reason)}\n`;
  await write(stderr, text);
}

/** `1 event`, `2 events`, `2 batches`, `2 retries`. */
export function plural(count: number, noun: string): string {
  if (count === 1) return `${count} ${noun}`;
  if (noun.endsWith('ch')) return `${count} ${noun}es`;
  if (noun.endsWith('y')) return `${count} ${noun.slice(0, -1)}ies`;
  return `${count} ${noun}s`;
}

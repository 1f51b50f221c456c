/**
 * @module
 * Writing to stdout and stderr with backpressure: a multi-gigabyte log streams through in bounded
 * memory only if the reader waits while the writer's buffer is full.
 */
import { once } from 'node:events';
import type { InvalidInput } from './input';

/** Write `text`, and wait for 'drain' when the stream's buffer is full. */
export async function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (text !== '' && !stream.write(text)) await once(stream, 'drain');
}

/** True for the error a write gets when the reader has gone (`kube-audit process big.log | head`). */
export function isBrokenPipe(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

/** Report invalid input on stderr as `FILE:LINE: reason`, one line each. */
export async function reportInvalid(stderr: NodeJS.WritableStream, invalid: readonly InvalidInput[]): Promise<void> {
  if (invalid.length === 0) return;
  let text = '';
  for (const item of invalid) text += `${item.where}: ${item.reason}\n`;
  await write(stderr, text);
}

/** `1 event`, `2 events`, `2 batches`, `2 retries`. */
export function plural(count: number, noun: string): string {
  if (count === 1) return `${count} ${noun}`;
  if (noun.endsWith('ch')) return `${count} ${noun}es`;
  if (noun.endsWith('y')) return `${count} ${noun.slice(0, -1)}ies`;
  return `${count} ${noun}s`;
}

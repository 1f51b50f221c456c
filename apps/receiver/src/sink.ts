/**
 * @module
 * Where lines go. A receiver answers 200 only once its sink says the lines are written, so a
 * sink resolves a write when the runtime reports the bytes handed to the OS, not when queued.
 */

export interface Sink {
  /** Resolves once `text` is written (the write callback fired); rejects if it cannot be. */
  write(text: string): Promise<void>;
  /** Bytes accepted and not yet written: what backpressure is measured on. */
  readonly pendingBytes: number;
  /** Resolves when every write so far has completed (or failed). */
  flush(): Promise<void>;
}

/**
 * A sink over an async write function that is called one write at a time, in order. Used where
 * the runtime offers a promise per write (Bun) and in tests.
 *
 * @example
 * const sink = createQueueSink(async (text) => { await Bun.write(Bun.stdout, text); });
 */
export function createQueueSink(writeText: (text: string) => Promise<void>): Sink {
  let tail: Promise<void> = Promise.resolve();
  let pending = 0;
  return {
    write(text) {
      pending += text.length;
      const done = tail.then(() => writeText(text));
      tail = done.then(
        () => undefined,
        () => undefined,
      );
      return done.finally(() => {
        pending -= text.length;
      });
    },
    get pendingBytes() {
      return pending;
    },
    flush() {
      return tail;
    },
  };
}

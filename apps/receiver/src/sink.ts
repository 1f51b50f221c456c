/**
 * @module
 * Where lines go. A receiver answers 200 only once its sink says the lines are written, so a
 * sink resolves a write when the runtime reports the bytes handed to the OS, not when queued.
 */

export interface Sink {
  /** Resolves once `bytes` are written (the write callback fired); rejects if they cannot be. */
  write(bytes: Uint8Array): Promise<void>;
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
 * const sink = createQueueSink(async (bytes) => { await Bun.write(Bun.stdout, bytes); });
 */
export function createQueueSink(writeBytes: (bytes: Uint8Array) => Promise<void>): Sink {
  let tail: Promise<void> = Promise.resolve();
  let pending = 0;
  return {
    write(bytes) {
      pending += bytes.length;
      const done = tail.then(() => writeBytes(bytes));
      tail = done.then(
        () => undefined,
        () => undefined,
      );
      return done.finally(() => {
        pending -= bytes.length;
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

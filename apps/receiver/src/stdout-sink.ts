/**
 * @module
 * The stdout sink on Node. process.stdout writes to pipes and files synchronously, so a stalled
 * log agent would freeze the whole process (health checks included); this sink opens fd 1 as a
 * non-blocking stream instead, so pending bytes can be counted and backpressure answered with 503.
 */
import { createWriteStream, fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { isatty, WriteStream as TtyWriteStream } from 'node:tty';
import type { Sink } from './sink';

export interface StdoutSinkOptions {
  fd?: number;
  /** Called once when the stream breaks (EPIPE, closed reader): nothing more can be written. */
  onFatal?: (error: Error) => void;
}

function openStream(fd: number): Writable {
  const stat = fstatSync(fd);
  if (stat.isFIFO() || stat.isSocket()) return new Socket({ fd, readable: false, writable: true });
  if (isatty(fd)) return new TtyWriteStream(fd);
  return createWriteStream('', { fd, autoClose: false });
}

/**
 * @example
 * const sink = createStdoutSink({ onFatal: () => shutdown(1) });
 * await sink.write(new TextEncoder().encode('{"kind":"Event",…}\n')); // resolved: the bytes are with the OS
 */
export function createStdoutSink(options: StdoutSinkOptions = {}): Sink {
  const stream = openStream(options.fd ?? 1);
  let broken: Error | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  const fail = (error: Error) => {
    if (broken) return;
    broken = error;
    options.onFatal?.(error);
  };
  stream.on('error', fail);
  stream.on('close', () => fail(new Error('stdout closed')));
  return {
    write(bytes) {
      if (broken) return Promise.reject(broken);
      const written = new Promise<void>((resolve, reject) => {
        stream.write(bytes, (error) => {
          if (error) {
            fail(error);
            reject(error);
          } else resolve();
        });
      });
      inFlight = written.catch(() => undefined);
      return written;
    },
    get pendingBytes() {
      return stream.writableLength;
    },
    flush() {
      return inFlight;
    },
  };
}

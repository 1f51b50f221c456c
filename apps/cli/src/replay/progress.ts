/**
 * @module
 * A one-line progress display on stderr, for a terminal only: redrawn in place at most ten times
 * a second, cleared before other messages and at the end.
 */
import { plural } from '../output';

export interface ProgressState {
  /** Share of the input done, from 0 to 1; undefined when the size is unknown (stdin). */
  fraction: number | undefined;
  /** Events in batches sent so far. */
  events: number;
  batches: number;
  retries: number;
  dropped: number;
}

export interface Progress {
  update(state: ProgressState): void;
  /** Clear the line (before printing something else, and at the end). */
  clear(): void;
}

const WIDTH = 24;
const noProgress: Progress = { update() {}, clear() {} };

/**
 * A progress line on `stream` when it is a terminal; otherwise one that does nothing.
 *
 * @example
 * const progress = createProgress(process.stderr);
 * progress.update({ fraction: 0.5, events, batches, retries, dropped });
 */
export function createProgress(stream: NodeJS.WritableStream & { isTTY?: boolean }): Progress {
  if (!stream.isTTY) return noProgress;
  let drawnAt = Number.NEGATIVE_INFINITY;
  let shown = false;
  return {
    update(state) {
      const now = performance.now();
      if (now - drawnAt < 100) return;
      drawnAt = now;
      let bar = '';
      if (state.fraction !== undefined) {
        const fraction = Math.min(1, state.fraction);
        const filled = Math.round(fraction * WIDTH);
        bar = `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  `;
      }
      const counts = [
        `${plural(state.events, 'event')} sent`,
        plural(state.batches, 'batch'),
        plural(state.retries, 'retry'),
        `${state.dropped} dropped`,
      ].join('  ');
      stream.write(`\r\x1b[K${bar}${counts}`);
      shown = true;
    },
    clear() {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
      drawnAt = Number.NEGATIVE_INFINITY;
    },
  };
}

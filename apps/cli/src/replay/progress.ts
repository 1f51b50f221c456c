/**
 * @module
 * A one-line progress display on stderr, for a terminal only: redrawn in place at most ten times
 * a second, cleared before other messages and at the end.
 */

export interface ProgressState {
  /** Input bytes read so far (compressed bytes for gzip files). */
  bytes: number;
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
 * @param totalBytes the input's size, or undefined for stdin (then no bar, only counts).
 * @example
 * const progress = createProgress(process.stderr, totalBytes);
 * progress.update({ bytes, events, batches, retries, dropped });
 */
export function createProgress(stream: NodeJS.WritableStream & { isTTY?: boolean }, totalBytes?: number): Progress {
  if (!stream.isTTY) return noProgress;
  let drawnAt = Number.NEGATIVE_INFINITY;
  let shown = false;
  return {
    update(state) {
      const now = performance.now();
      if (now - drawnAt < 100) return;
      drawnAt = now;
      let bar = '';
      if (totalBytes !== undefined && totalBytes > 0) {
        const fraction = Math.min(1, state.bytes / totalBytes);
        const filled = Math.round(fraction * WIDTH);
        bar = `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  `;
      }
      const counts = `${state.events} events  ${state.batches} batches  ${state.retries} retries  ${state.dropped} dropped`;
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

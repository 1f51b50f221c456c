/**
 * @module
 * Replaying a log at its own rhythm: each event is due when it happened (its `stageTimestamp`,
 * the time the API server emitted it), measured from the log's first event, optionally N times
 * faster. The batch backend's MaxBatchWait timer runs in that event time, so where batches are cut
 * depends on the log, never on how fast the replay runs.
 */
import type { AuditEvent } from '@kube-audit/core';
import { UsageError } from '../usage-error';

/** The webhook batch backend's `--audit-webhook-batch-max-wait` default: 30 s. */
export const MAX_BATCH_WAIT_MS = 30_000;

/** `none` (as fast as possible), `original` (1×) or `Nx` (N times faster, N > 0); undefined for none. */
export function parsePace(text: string | undefined): number | undefined {
  if (text === undefined || text === 'none') return undefined;
  if (text === 'original') return 1;
  const match = /^(\d+(?:\.\d+)?|\.\d+)x$/.exec(text);
  const speed = match ? Number(match[1]) : Number.NaN;
  if (!(speed > 0) || !Number.isFinite(speed)) {
    throw new UsageError(`--pace: expected original, none or a speed such as 10x, got ${JSON.stringify(text)}`);
  }
  return speed;
}

/** When the event was emitted, in ms since the epoch: stageTimestamp, else requestReceivedTimestamp, else v1beta1 timestamp. */
export function eventTimeOf(event: AuditEvent): number | undefined {
  for (const key of ['stageTimestamp', 'requestReceivedTimestamp', 'timestamp']) {
    const value = event.get(key);
    if (typeof value !== 'string') continue;
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return ms;
  }
  return undefined;
}

/**
 * @module
 * The webhook's retry rule (reference §2.3), so a receiver sees what the API server would send:
 *
 * - Outer retry (k8s ≥ 1.17, GenericWebhook with `retryOnError`): any error, every non-2xx status
 *   and every network error, is retried; `wait.Backoff{Duration: initial, Factor: 1.5, Jitter: 0.2,
 *   Steps: 5}` gives at most 5 attempts with sleeps of d, 1.5d, 2.25d, 3.375d, each times [1, 1.2).
 *   After the fifth failure the batch is dropped.
 * - Inner retry (client-go): a 429 or ≥ 500 answer with an integer `Retry-After` is re-posted after
 *   that many seconds, up to 10 times, all within the attempt's timeout. The whole Retry-After is
 *   slept before the re-post; a wait that would pass the attempt's deadline ends the attempt at
 *   the deadline (client-go rest/with_retry.go Before: backoff.SleepWithContext(ctx, delay), since
 *   Kubernetes 1.33; before, time.Sleep slept it whole and the re-post then failed on the context).
 * - Success is a status from 200 to 206 (client-go transformResponse); the body is ignored.
 */
import { formatDuration } from '../durations';
import type { PostOutcome } from './http-post';
import { type Clock, realClock } from './throttle';

export const MAX_ATTEMPTS = 5;
export const BACKOFF_FACTOR = 1.5;
export const BACKOFF_JITTER = 0.2;
export const MAX_RETRY_AFTER_RETRIES = 10;

export interface DeliveryOptions {
  post(body: Buffer, timeoutMs: number): Promise<PostOutcome>;
  /** The first sleep between attempts (`--audit-webhook-initial-backoff`). */
  initialBackoffMs: number;
  /** One attempt's limit, re-posts after Retry-After included (the webhook's fixed 30 s). */
  timeoutMs: number;
  clock?: Clock;
  random?: () => number;
}

export interface DeliveryResult {
  delivered: boolean;
  /** Attempts made (1 to 5). */
  attempts: number;
  /** Re-posts within attempts after a Retry-After. */
  retryAfterWaits: number;
  /** Why the last attempt failed, when it did. */
  lastError?: string;
}

/**
 * A function that delivers one batch under the retry rule and says how it went; it never throws.
 *
 * @example
 * const deliver = createDelivery({ post: poster.post, initialBackoffMs: 10_000, timeoutMs: 30_000 });
 * const { delivered, attempts } = await deliver(batch.body);
 */
export function createDelivery(
  options: DeliveryOptions,
): (body: Buffer, onAttemptFailed?: (attempt: number, reason: string) => void) => Promise<DeliveryResult> {
  const clock = options.clock ?? realClock;
  const random = options.random ?? Math.random;

  return async function deliver(body, onAttemptFailed) {
    let backoff = options.initialBackoffMs;
    let retryAfterWaits = 0;
    for (let attempt = 1; ; attempt++) {
      const result = await attemptOnce(body);
      retryAfterWaits += result.retryAfterWaits;
      if (result.error === undefined) return { delivered: true, attempts: attempt, retryAfterWaits };
      onAttemptFailed?.(attempt, result.error);
      if (attempt === MAX_ATTEMPTS)
        return { delivered: false, attempts: attempt, retryAfterWaits, lastError: result.error };
      // wait.Jitter(d, 0.2) = d + rand.Float64()*0.2*d
      await clock.sleep(backoff * (1 + random() * BACKOFF_JITTER));
      backoff *= BACKOFF_FACTOR;
    }
  };

  async function attemptOnce(body: Buffer): Promise<{ error?: string; retryAfterWaits: number }> {
    const deadline = clock.now() + options.timeoutMs;
    const timedOut = `no response within ${formatDuration(options.timeoutMs)}`;
    for (let waits = 0; ; waits++) {
      const remaining = deadline - clock.now();
      if (remaining <= 0) return { error: timedOut, retryAfterWaits: waits };
      const outcome = await options.post(body, remaining);
      const status = outcome.status;
      if (status === undefined) {
        return { error: outcome.timedOut ? timedOut : (outcome.error ?? 'no response'), retryAfterWaits: waits };
      }
      if (status >= 200 && status <= 206) return { retryAfterWaits: waits };
      const seconds = retryAfterSeconds(status, outcome.retryAfter);
      if (seconds === undefined || waits === MAX_RETRY_AFTER_RETRIES) {
        return { error: `HTTP ${status}`, retryAfterWaits: waits };
      }
      // The context deadline would end the attempt during a longer wait: end it there.
      const wait = seconds * 1000;
      if (wait >= deadline - clock.now()) {
        await clock.sleep(Math.max(0, deadline - clock.now()));
        return { error: `HTTP ${status}, Retry-After ${seconds} passes the attempt's timeout`, retryAfterWaits: waits };
      }
      await clock.sleep(wait);
    }
  }
}

/** client-go checkWait: only 429 and 5xx, only an integer (strconv.Atoi) Retry-After. */
export function retryAfterSeconds(status: number, header: string | undefined): number | undefined {
  if (status !== 429 && status < 500) return undefined;
  if (header === undefined || !/^[+-]?\d+$/.test(header)) return undefined;
  return Math.max(0, Number(header));
}

/**
 * @module
 * The webhook's batch throttle: a token bucket (golang.org/x/time/rate, as the buffered backend
 * uses) of `qps` batches per second with room for `burst`, full at the start.
 */

export interface Throttle {
  /** Resolves when the next batch may be sent. */
  take(): Promise<void>;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * @param qps batches per second; 0 turns the throttle off.
 * @example
 * const throttle = createThrottle(10, 15); // --audit-webhook-batch-throttle-qps/-burst defaults
 * await throttle.take();
 */
export function createThrottle(qps: number, burst: number, clock: Clock = realClock): Throttle {
  if (qps <= 0) return { take: async () => {} };
  let tokens = burst;
  let last = clock.now();
  return {
    async take() {
      const now = clock.now();
      tokens = Math.min(burst, tokens + ((now - last) / 1000) * qps);
      last = now;
      // A reservation: the token is taken now and paid for by waiting, as rate.Limiter.Wait does.
      tokens -= 1;
      if (tokens < 0) await clock.sleep((-tokens / qps) * 1000);
    },
  };
}

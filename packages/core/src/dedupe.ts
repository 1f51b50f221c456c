/**
 * @module
 * Drops retry duplicates. The API server re-sends a whole batch when an answer is lost or late,
 * so an event seen again is recognised by (auditID, stage): not auditID alone, since one request
 * yields an event per stage under the same auditID.
 */
import type { AuditEvent } from './event';

export interface Dedupe {
  /** True when the event was seen recently; otherwise it is remembered and false is returned. */
  seen(event: AuditEvent): boolean;
  /** Forget events, e.g. when their lines could not be written, so that a retry is not dropped. */
  forget(events: Iterable<AuditEvent>): void;
  readonly size: number;
}

/**
 * A bounded cache of the most recent `capacity` keys (oldest evicted first).
 *
 * @example
 * const dedupe = createDedupe(10_000);
 * const fresh = events.filter((event) => !dedupe.seen(event));
 */
export function createDedupe(capacity: number): Dedupe {
  const keys = new Set<string>();
  return {
    seen(event) {
      const key = `${event.stage}\u0000${event.auditID}`;
      if (keys.has(key)) return true;
      keys.add(key);
      if (keys.size > capacity) {
        // A Set iterates in insertion order: the first key is the oldest.
        keys.delete(keys.values().next().value as string);
      }
      return false;
    },
    forget(events) {
      for (const event of events) keys.delete(`${event.stage}\u0000${event.auditID}`);
    },
    get size() {
      return keys.size;
    },
  };
}

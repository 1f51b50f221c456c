/**
 * @module
 * Drops retry duplicates. The API server re-sends a whole batch when an answer is lost or late,
 * so an event seen again is recognised by (auditID, stage): not auditID alone, since one request
 * yields an event per stage under the same auditID.
 */
import type { AuditEvent } from './event';
import type { Stage } from './schema';

const STAGE_BITS: Readonly<Record<Stage, number>> = {
  RequestReceived: 1,
  ResponseStarted: 2,
  ResponseComplete: 4,
  Panic: 8,
};

/** A cache of recently seen (auditID, stage) pairs; see {@link createDedupe}. */
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
  // auditID → a bit per stage seen. Keyed by the auditID string itself (a slice of the body),
  // so a lookup allocates nothing.
  const seen = new Map<string, number>();
  // Insertion order in a ring, so eviction is O(1).
  const ringIds: (string | undefined)[] = new Array(capacity);
  const ringBits = new Uint8Array(capacity);
  let next = 0;
  let size = 0;
  const remove = (auditID: string, bit: number) => {
    const bits = seen.get(auditID);
    if (bits === undefined || !(bits & bit)) return;
    size--;
    if (bits === bit) seen.delete(auditID);
    else seen.set(auditID, bits & ~bit);
  };
  return {
    seen(event) {
      const bit = STAGE_BITS[event.stage];
      let id = event.auditID;
      let bits = seen.get(id);
      if (bits !== undefined && bits & bit) return true;
      const oldest = ringIds[next];
      if (oldest !== undefined) {
        remove(oldest, ringBits[next] as number);
        if (oldest === id) bits = seen.get(id);
      }
      // The auditID is a slice of its request's body: keeping it would keep the whole body alive
      // for as long as the key is remembered. Keep a copy of its characters instead.
      id = ` ${id}`.slice(1);
      ringIds[next] = id;
      ringBits[next] = bit;
      next = next + 1 === capacity ? 0 : next + 1;
      seen.set(id, (bits ?? 0) | bit);
      size++;
      return false;
    },
    forget(events) {
      // The ring still holds a forgotten key; when its slot comes round it may drop a re-added copy
      // early, which only makes dedupe less eager, never drops an unseen event.
      for (const event of events) remove(event.auditID, STAGE_BITS[event.stage]);
    },
    get size() {
      return size;
    },
  };
}

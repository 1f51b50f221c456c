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
  // Keys are 53-bit hashes of (stage, auditID): numbers, so that remembering an event keeps no
  // string alive (an auditID is a slice of its request's body, and a copy per event costs more
  // than hashing it). With a per-process random seed, two different keys collide with odds of
  // about capacity / 2^53 per event: 1 in 10^12 at the default size.
  const seed = (Math.random() * 2 ** 32) >>> 0;
  const keys = new Set<number>();
  // Insertion order in a ring, so eviction is O(1).
  const ring = new Float64Array(capacity).fill(-1);
  let next = 0;
  return {
    seen(event) {
      const key = hashKey(event.auditID, STAGE_BITS[event.stage], seed);
      if (keys.has(key)) return true;
      const oldest = ring[next] as number;
      if (oldest >= 0) keys.delete(oldest);
      ring[next] = key;
      next = next + 1 === capacity ? 0 : next + 1;
      keys.add(key);
      return false;
    },
    forget(events) {
      // The ring still holds a forgotten key; when its slot comes round it may drop a re-added copy
      // early, which only makes dedupe less eager, never drops an unseen event.
      for (const event of events) keys.delete(hashKey(event.auditID, STAGE_BITS[event.stage], seed));
    },
    get size() {
      return keys.size;
    },
  };
}

/** Two 32-bit multiplicative hashes of the characters, two at a time, joined into one 53-bit integer. */
function hashKey(auditID: string, stage: number, seed: number): number {
  let a = 0x811c9dc5 ^ seed ^ stage;
  let b = 0x9e3779b9 ^ stage;
  const n = auditID.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const c = auditID.charCodeAt(i) | (auditID.charCodeAt(i + 1) << 16);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  if (i < n) {
    a = Math.imul(a ^ auditID.charCodeAt(i), 0x01000193);
    b = Math.imul(b ^ auditID.charCodeAt(i), 0x5bd1e995);
  }
  // Final mixing (MurmurHash3's), so that every input bit reaches the bits kept.
  a ^= a >>> 16;
  a = Math.imul(a, 0x85ebca6b);
  a ^= a >>> 13;
  b ^= b >>> 15;
  b = Math.imul(b, 0xc2b2ae35);
  b ^= b >>> 16;
  return (a >>> 0) * 0x200000 + ((b >>> 0) & 0x1fffff);
}

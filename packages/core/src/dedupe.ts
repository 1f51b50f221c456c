/**
 * @module
 * Drops retry duplicates. The API server re-sends a whole batch when an answer is lost or late,
 * and a re-sent batch carries the same events byte for byte, so an event is recognised by all of
 * its received text. Never by (auditID, stage) alone: the API server takes a client's `Audit-ID`
 * header as the auditID unchanged (`withAuditInit`, k8s.io/apiserver
 * pkg/endpoints/filters/audit_init.go), so a client could otherwise have its next request dropped
 * as "a duplicate" of a harmless one.
 */
import type { AuditEvent } from './event';

/** A cache of recently seen events; see {@link createDedupe}. */
export interface Dedupe {
  /** True when the same event (the same received text) was seen recently; otherwise it is remembered and false is returned. */
  seen(event: AuditEvent): boolean;
  /** Forget events, e.g. when their lines could not be written, so that a retry is not dropped. */
  forget(events: Iterable<AuditEvent>): void;
  readonly size: number;
}

/**
 * A bounded cache of the most recent `capacity` events (oldest evicted first).
 *
 * @example
 * const dedupe = createDedupe(10_000);
 * const fresh = events.filter((event) => !dedupe.seen(event));
 */
export function createDedupe(capacity: number): Dedupe {
  // Keys are 53-bit hashes of the event's received text and apiVersion: numbers, so that
  // remembering an event keeps no string alive (an event is a slice of its request's body). Both
  // lanes start from per-process random seeds; two different events collide with odds of about
  // capacity / 2^53 per event: 1 in 10^12 at the default size.
  const seedA = (Math.random() * 2 ** 32) >>> 0;
  const seedB = (Math.random() * 2 ** 32) >>> 0;
  const keyOf = (event: AuditEvent): number =>
    hashBytes(event.source, event.table.view, event.start, event.end, event.apiVersion, seedA, seedB);
  const keys = createKeySet(capacity);
  // Insertion order in a ring, so eviction is O(1). Keys are stored plus one, so 0 is empty.
  const ring = new Float64Array(capacity);
  let next = 0;
  return {
    seen(event) {
      const key = keyOf(event);
      if (keys.has(key)) return true;
      const oldest = ring[next] as number;
      if (oldest > 0) keys.delete(oldest - 1);
      ring[next] = key + 1;
      next = next + 1 === capacity ? 0 : next + 1;
      keys.add(key);
      return false;
    },
    forget(events) {
      // The ring still holds a forgotten key; when its slot comes round it may drop a re-added copy
      // early, which only makes dedupe less eager, never drops an unseen event.
      for (const event of events) keys.delete(keyOf(event));
    },
    get size() {
      return keys.size;
    },
  };
}

interface KeySet {
  has(key: number): boolean;
  add(key: number): void;
  delete(key: number): void;
  readonly size: number;
}

/**
 * A set of 53-bit keys in one Float64Array, open addressing with linear probing, at most two
 * thirds full. A `Set<number>` boxes each key that is not a small integer and spent more time in
 * its own bookkeeping than the hash took. Slots hold key + 1, so 0 is empty and a large cache
 * takes memory only as it fills. Deletion shifts the following run back (no tombstones).
 */
function createKeySet(capacity: number): KeySet {
  let size = 16;
  while (size < capacity * 1.5) size *= 2;
  const mask = size - 1;
  const slots = new Float64Array(size);
  let count = 0;
  // The key's upper 32 bits: the mixed first lane of hashBytes.
  const home = (stored: number) => ((stored - 1) / 0x200000) & mask;
  /** The slot holding the key, or -1 - the empty slot where it would go. */
  const find = (key: number): number => {
    const stored = key + 1;
    for (let i = home(stored); ; i = (i + 1) & mask) {
      const slot = slots[i] as number;
      if (slot === stored) return i;
      if (slot === 0) return -1 - i;
    }
  };
  return {
    has: (key) => find(key) >= 0,
    add(key) {
      const i = find(key);
      if (i >= 0) return;
      slots[-1 - i] = key + 1;
      count++;
    },
    delete(key) {
      let hole = find(key);
      if (hole < 0) return;
      count--;
      // Move back each later key of the run that may not stand beyond the hole.
      for (let i = (hole + 1) & mask; ; i = (i + 1) & mask) {
        const slot = slots[i] as number;
        if (slot === 0) break;
        if (((i - home(slot)) & mask) >= ((i - hole) & mask)) {
          slots[hole] = slot;
          hole = i;
        }
      }
      slots[hole] = 0;
    },
    get size() {
      return count;
    },
  };
}

/**
 * Two 32-bit multiplicative hashes of the bytes `b[start, end)` and of `apiVersion`, read as
 * little-endian 32-bit words wherever they stand (a DataView reads unaligned words), in four
 * lanes so that the multiplications overlap, joined into one 53-bit integer.
 */
function hashBytes(
  b: Uint8Array,
  view: DataView,
  start: number,
  end: number,
  apiVersion: string,
  seedA: number,
  seedB: number,
): number {
  let a = seedA ^ 0x811c9dc5;
  let h = seedB ^ 0x9e3779b9;
  for (let i = 0; i < apiVersion.length; i++) a = Math.imul(a ^ apiVersion.charCodeAt(i), 0x01000193);
  let c = a ^ 0x27d4eb2f;
  let d = h ^ 0x165667b1;
  let i = start;
  for (const last = end - 16; i <= last; i += 16) {
    a = Math.imul(a ^ view.getInt32(i, true), 0x01000193);
    h = Math.imul(h ^ view.getInt32(i + 4, true), 0x5bd1e995);
    c = Math.imul(c ^ view.getInt32(i + 8, true), 0x01000193);
    d = Math.imul(d ^ view.getInt32(i + 12, true), 0x5bd1e995);
  }
  for (; i < end; i++) a = Math.imul(a ^ (b[i] as number), 0x01000193);
  // Each lane mixed on its own before they are joined: lanes that run the same multiplication
  // over like input (a run of one character) can carry like differences, which a plain xor of
  // the lanes would cancel. The length, so that spans that differ only in where their tail
  // starts differ.
  a = mix(a) ^ rotate(mix(c ^ 0x27d4eb2f), 16);
  h = mix(h ^ (end - start)) ^ rotate(mix(d ^ 0x165667b1), 16);
  // Final mixing, so that every input bit reaches the bits kept.
  a = mix(a ^ h);
  h = mix(h ^ 0x9e3779b9);
  return (a >>> 0) * 0x200000 + ((h >>> 0) & 0x1fffff);
}

/** MurmurHash3's 32-bit finaliser: every input bit reaches every output bit. */
function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return x ^ (x >>> 16);
}

function rotate(x: number, bits: number): number {
  return (x << bits) | (x >>> (32 - bits));
}

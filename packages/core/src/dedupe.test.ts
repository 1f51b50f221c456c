import { describe, expect, it } from 'vitest';
import { createDedupe } from './dedupe';
import type { AuditEvent } from './event';
import { parsePayload } from './parse';

/** A webhook item whose requestURI carries `pad`; the rest as kube-apiserver writes it. */
const eventWith = (pad: string) =>
  parsePayload(
    JSON.stringify({
      kind: 'EventList',
      apiVersion: 'audit.k8s.io/v1',
      items: [
        { level: 'Metadata', auditID: 'same', stage: 'ResponseComplete', verb: 'get', requestURI: `/api?p=${pad}` },
      ],
    }),
  ).events[0] as AuditEvent;

describe('createDedupe', () => {
  it('tells apart long events that differ in one byte anywhere, in the tail of 16-byte words included', () => {
    const dedupe = createDedupe(100);
    const base = 'x'.repeat(40_000);
    // Bytes are hashed 16 at a time as four 32-bit words, the last few one by one: a difference
    // at every offset of the last 17 bytes, and characters of 2 to 4 bytes in the middle.
    const at = 16_380;
    const variants = [
      ...Array.from({ length: 17 }, (_, k) => `${base.slice(0, base.length - 1 - k)}y${'x'.repeat(k)}`),
      `${base.slice(0, at)}é${base.slice(at + 1)}`,
      `${base.slice(0, at)}€${base.slice(at + 1)}`,
      base,
      `y${base.slice(1)}`,
      `${base.slice(0, at)}😀${base.slice(at + 2)}`,
      `${base.slice(0, at)}😁${base.slice(at + 2)}`,
      `${base}\u0000`,
      `${base}\u0000\u0000`,
    ];
    for (const pad of variants) expect(dedupe.seen(eventWith(pad))).toBe(false);
    for (const pad of variants) expect(dedupe.seen(eventWith(pad))).toBe(true);
    // The hash is seeded per cache: none of 200 seeds may take two of these for one.
    const events = variants.map(eventWith);
    for (let seed = 0; seed < 200; seed++) {
      const fresh = createDedupe(100);
      expect(events.filter((event) => fresh.seen(event))).toEqual([]);
    }
  });

  it('knows a retried event wherever it stands in its body (another list around it, another offset)', () => {
    const item = { level: 'Metadata', auditID: 'r', stage: 'ResponseComplete', verb: 'get', requestURI: '/api' };
    for (let pad = 0; pad < 8; pad++) {
      const dedupe = createDedupe(10);
      const first = parsePayload(JSON.stringify({ kind: 'EventList', items: [item] })).events[0] as AuditEvent;
      const body = JSON.stringify({ kind: 'EventList', metadata: { x: 'p'.repeat(pad) }, items: [item] });
      const retry = parsePayload(body).events[0] as AuditEvent;
      expect(retry.start).not.toBe(first.start);
      expect(dedupe.seen(first)).toBe(false);
      expect(dedupe.seen(retry)).toBe(true);
    }
  });

  it('remembers exactly the last `capacity` new events, through evictions, forgets and collisions', () => {
    // The reference is the same algorithm over a plain Set. Small capacities keep the key table
    // small, so keys share slots and deletions must move the runs that follow them.
    const pool = Array.from({ length: 60 }, (_, i) => eventWith(String(i)));
    let random = 12_345;
    const next = (n: number) => {
      random = (Math.imul(random, 1_103_515_245) + 12_345) >>> 0;
      return random % n;
    };
    for (const capacity of [1, 2, 7, 10, 33, 59]) {
      const dedupe = createDedupe(capacity);
      const known = new Set<number>();
      const ring: (number | undefined)[] = new Array(capacity).fill(undefined);
      let at = 0;
      for (let step = 0; step < 20_000; step++) {
        const index = next(pool.length);
        const event = pool[index] as AuditEvent;
        if (next(50) === 0) {
          dedupe.forget([event]);
          known.delete(index);
          continue;
        }
        const expected = known.has(index);
        if (!expected) {
          const oldest = ring[at];
          if (oldest !== undefined) known.delete(oldest);
          ring[at] = index;
          at = (at + 1) % capacity;
          known.add(index);
        }
        expect(dedupe.seen(event), `capacity ${capacity}, step ${step}`).toBe(expected);
        expect(dedupe.size).toBe(known.size);
      }
    }
  });
});

import { describe, expect, it } from 'vitest';
import { BodyBuffer, BodyPool } from './body';

describe('BodyPool', () => {
  it('hands an array given back to the next body that fits in it, the smallest that does', () => {
    const pool = new BodyPool(4, 1000);
    const a = pool.take(100);
    const b = pool.take(500);
    expect(a.length).toBe(100);
    expect(b.buffer).not.toBe(a.buffer);
    pool.give(a.subarray(0, 10));
    pool.give(b);
    expect(pool.keptBytes).toBe(600);
    // Not zeroed: a body is read into it from its start and only its own length is seen.
    expect(pool.take(50).buffer).toBe(a.buffer);
    expect(pool.take(200).buffer).toBe(b.buffer);
    expect(pool.take(100).buffer).not.toBe(a.buffer);
    expect(pool.keptBytes).toBe(0);
  });

  it('takes back only its own arrays, each once, up to `keep` of them and none past `maxBytes`', () => {
    const pool = new BodyPool(2, 1000);
    pool.give(new Uint8Array(100));
    expect(pool.keptBytes).toBe(0);
    const a = pool.take(100);
    pool.give(a);
    pool.give(a);
    expect(pool.keptBytes).toBe(100);
    // Given twice, it must not be handed to two bodies at once.
    const first = pool.take(100);
    const second = pool.take(100);
    expect(second.buffer).not.toBe(first.buffer);
    const large = pool.take(2000);
    pool.give(large);
    expect(pool.keptBytes).toBe(0);
    const arrays = [pool.take(10), pool.take(10), pool.take(10)];
    for (const array of arrays) pool.give(array);
    expect(pool.keptBytes).toBe(20);
  });
});

describe('BodyBuffer', () => {
  it('grows through the pool and gives the array it outgrew back', () => {
    const pool = new BodyPool(4, 1 << 20);
    const kept = pool.take(300);
    kept.fill(0x78);
    pool.give(kept);
    // No Content-Length: 64 KiB to start with, taken new (the kept array is too small).
    const body = new BodyBuffer(1 << 20, 0, undefined, pool);
    const piece = new TextEncoder().encode('{"items":[]}');
    for (let i = 0; i < 6000; i++) body.add(piece);
    const bytes = body.bytes();
    expect(bytes.length).toBe(6000 * piece.length);
    expect(new TextDecoder().decode(bytes.subarray(0, 24))).toBe('{"items":[]}{"items":[]}');
    // The 300-byte array is still kept; the 64 KiB one it outgrew went back too.
    expect(pool.keptBytes).toBe(300 + 64 * 1024);
    // A body that fits in a kept array is read into it, and only its own bytes are seen.
    const next = new BodyBuffer(1 << 20, 5, undefined, pool);
    next.add(new TextEncoder().encode('[1,2]'));
    expect(next.bytes().buffer).toBe(kept.buffer);
    expect(new TextDecoder().decode(next.bytes())).toBe('[1,2]');
  });
});

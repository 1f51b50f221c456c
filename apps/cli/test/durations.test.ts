/** Kubernetes-style durations, read and written as Go's time package does. */
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../src/durations';

describe('parseDuration', () => {
  it.each([
    ['10s', 10_000],
    ['50ms', 50],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1.5s', 1500],
    ['.5s', 500],
    ['250us', 0.25],
    ['250µs', 0.25],
    ['1000000ns', 1],
    ['0', 0],
    ['+2s', 2000],
  ])('reads %s as %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '10', 's', '.s', '-1s', '1d', '1 s', '1s ', 'ten seconds', '1.s.'])('refuses %j', (text) =>
    expect(parseDuration(text)).toBeUndefined(),
  );
});

describe('formatDuration', () => {
  it.each([
    [30_000, '30s'],
    [90_000, '1m30s'],
    [3_600_000, '1h0m0s'],
    [1500, '1.5s'],
    [50, '50ms'],
    [0.25, '250µs'],
    [0, '0s'],
  ])('writes %d ms as %s, as Duration.String does', (ms, text) => expect(formatDuration(ms)).toBe(text));
});

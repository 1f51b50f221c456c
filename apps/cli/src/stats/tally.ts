/**
 * @module
 * Counts of events per value of each dimension, and the time range the events cover.
 */
import type { AuditEvent } from '@kube-audit/core';
import { DIMENSIONS } from './dimensions';

/** The JSON form of `kube-audit stats --json`. */
export interface StatsReport {
  events: number;
  invalid: number;
  /** Earliest and latest of requestReceivedTimestamp, stageTimestamp and (v1beta1) timestamp. */
  timeRange: { first: string; last: string } | null;
  /** Per dimension key (`verbs`, `users`, …): value → events, most frequent first. */
  [dimension: string]: unknown;
}

export interface Tally {
  add(event: AuditEvent): void;
  addInvalid(count: number): void;
  report(): StatsReport;
  /** Per dimension key: [value, events], most frequent first, ties by value. */
  counts(key: string): [string, number][];
}

const TIMESTAMPS = ['requestReceivedTimestamp', 'stageTimestamp', 'timestamp'];

/**
 * @example
 * const tally = createTally();
 * for (const event of events) tally.add(event);
 * console.log(JSON.stringify(tally.report()));
 */
export function createTally(): Tally {
  const maps = new Map(DIMENSIONS.map((dimension) => [dimension.key, new Map<string, number>()]));
  let events = 0;
  let invalid = 0;
  let first: { text: string; micros: number } | undefined;
  let last: { text: string; micros: number } | undefined;

  const counts = (key: string): [string, number][] =>
    [...(maps.get(key) ?? [])].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0));

  return {
    add(event) {
      events++;
      for (const dimension of DIMENSIONS) {
        const map = maps.get(dimension.key) as Map<string, number>;
        const value = dimension.of(event);
        map.set(value, (map.get(value) ?? 0) + 1);
      }
      for (const key of TIMESTAMPS) {
        const text = event.get(key);
        if (typeof text !== 'string') continue;
        const micros = microsOf(text);
        if (micros === undefined) continue;
        if (!first || micros < first.micros) first = { text, micros };
        if (!last || micros > last.micros) last = { text, micros };
      }
    },
    addInvalid(count) {
      invalid += count;
    },
    counts,
    report() {
      const report: StatsReport = {
        events,
        invalid,
        timeRange: first && last ? { first: first.text, last: last.text } : null,
      };
      for (const dimension of DIMENSIONS) report[dimension.key] = Object.fromEntries(counts(dimension.key));
      return report;
    },
  };
}

const TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/i;

/**
 * Microseconds since the epoch. MicroTime has 6 fractional digits and meta/v1 Time none, so the
 * strings do not sort as text (`…05Z` > `…05.1Z`); Date keeps only milliseconds.
 */
export function microsOf(text: string): number | undefined {
  const match = TIME.exec(text);
  if (!match) return undefined;
  const [, seconds, fraction = '', zone] = match;
  const ms = Date.parse(`${seconds}${zone}`);
  if (Number.isNaN(ms)) return undefined;
  return ms * 1000 + Number(fraction.slice(0, 6).padEnd(6, '0'));
}

/**
 * A strict parser for the Prometheus text exposition format (version 0.0.4), for tests: it
 * rejects what a Prometheus server would reject or mis-ingest (bad names, bad escapes, a
 * family's samples split up, a TYPE after its samples, duplicate series, histograms whose
 * buckets are not cumulative or lack `+Inf`), and returns the families for assertions.
 * https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name, e.g. `x_bucket` in family `x`. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help: string | undefined;
  samples: Sample[];
}

export class ExpositionError extends Error {
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: readonly string[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];
const SUFFIXES: Record<MetricType, string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

/** A float as Prometheus reads it (Go's strconv.ParseFloat: `NaN` and `Inf` in any case, so prom-client's `Nan` too). */
function parseValue(text: string, line: number): number {
  if (/^\+?inf(inity)?$/i.test(text)) return Number.POSITIVE_INFINITY;
  if (/^-inf(inity)?$/i.test(text)) return Number.NEGATIVE_INFINITY;
  if (/^nan$/i.test(text)) return Number.NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new ExpositionError(line, `bad value ${text}`);
  return Number(text);
}

/** Parses `{a="x",b="y"}` starting at `text[0] === '{'`; returns the labels and the rest. */
function parseLabels(text: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1;
  for (;;) {
    while (text[i] === ' ') i++;
    if (text[i] === '}') return { labels, rest: text.slice(i + 1) };
    const name = /^[^=\s]+/.exec(text.slice(i))?.[0] ?? '';
    if (!LABEL_NAME.test(name)) throw new ExpositionError(line, `bad label name ${JSON.stringify(name)}`);
    if (name in labels) throw new ExpositionError(line, `label ${name} twice`);
    i += name.length;
    if (text[i] !== '=' || text[i + 1] !== '"') throw new ExpositionError(line, `expected ="… after ${name}`);
    i += 2;
    let value = '';
    for (;;) {
      const ch = text[i];
      if (ch === undefined) throw new ExpositionError(line, 'unterminated label value');
      i++;
      if (ch === '"') break;
      if (ch === '\\') {
        const next = text[i++];
        if (next === '\\') value += '\\';
        else if (next === '"') value += '"';
        else if (next === 'n') value += '\n';
        else throw new ExpositionError(line, `bad escape \\${next ?? ''} in label value`);
      } else value += ch;
    }
    labels[name] = value;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new ExpositionError(line, `expected , or } after label ${name}`);
  }
}

function familyOf(sampleName: string, families: Map<string, MetricFamily>): MetricFamily | undefined {
  for (const family of families.values()) {
    for (const suffix of SUFFIXES[family.type]) if (family.name + suffix === sampleName) return family;
  }
  return undefined;
}

function checkHistogram(family: MetricFamily): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (sample.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${sample.name} without le`);
      entry.buckets.push([parseValue(le, 0), sample.value]);
    } else if (sample.name.endsWith('_count')) entry.count = sample.value;
  }
  for (const { buckets, count } of series.values()) {
    for (let i = 1; i < buckets.length; i++) {
      const [le, value] = buckets[i] as [number, number];
      const [prevLe, prevValue] = buckets[i - 1] as [number, number];
      if (!(le > prevLe) || value < prevValue) throw new Error(`${family.name}: buckets not cumulative at le=${le}`);
    }
    const last = buckets[buckets.length - 1];
    if (!last || last[0] !== Number.POSITIVE_INFINITY) throw new Error(`${family.name}: no le="+Inf" bucket`);
    if (count !== last[1]) throw new Error(`${family.name}: _count ${count} differs from the +Inf bucket ${last[1]}`);
  }
}

/** @throws {ExpositionError} on the first violation. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const finished = new Set<string>();
  const seriesSeen = new Set<string>();
  const typed = new Set<string>();
  let current: MetricFamily | undefined;
  if (text !== '' && !text.endsWith('\n')) throw new ExpositionError(0, 'does not end with a line feed');
  const lines = text.split('\n');
  lines.pop();

  const open = (name: string, line: number): MetricFamily => {
    if (current?.name === name) return current;
    if (current) finished.add(current.name);
    if (finished.has(name)) throw new ExpositionError(line, `${name}: its lines are not together`);
    const family = families.get(name) ?? { name, type: 'untyped' as MetricType, help: undefined, samples: [] };
    families.set(name, family);
    current = family;
    return family;
  };

  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const match = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (!match) return; // a plain comment
      const [, keyword, name = '', rest = ''] = match;
      if (!METRIC_NAME.test(name)) throw new ExpositionError(line, `bad metric name ${name}`);
      const family = open(name, line);
      if (keyword === 'HELP') {
        if (family.help !== undefined) throw new ExpositionError(line, `second HELP for ${name}`);
        family.help = rest.replace(/\\(.)/g, (_, ch: string) => (ch === 'n' ? '\n' : ch));
      } else {
        if (!TYPES.includes(rest.trim())) throw new ExpositionError(line, `bad type ${rest}`);
        if (family.samples.length > 0) throw new ExpositionError(line, `TYPE for ${name} after its samples`);
        if (typed.has(name)) throw new ExpositionError(line, `second TYPE for ${name}`);
        typed.add(name);
        family.type = rest.trim() as MetricType;
      }
      return;
    }
    const name = /^[^{\s]+/.exec(raw)?.[0] ?? '';
    if (!METRIC_NAME.test(name)) throw new ExpositionError(line, `bad metric name ${JSON.stringify(name)}`);
    let rest = raw.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, line));
    const fields = rest.trim().split(/\s+/);
    if (fields.length < 1 || fields.length > 2 || fields[0] === '')
      throw new ExpositionError(line, 'expected a value and an optional timestamp');
    const value = parseValue(fields[0] as string, line);
    if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1])) throw new ExpositionError(line, 'bad timestamp');
    const target = open(familyOf(name, families)?.name ?? name, line);
    if (!SUFFIXES[target.type].some((suffix) => target.name + suffix === name))
      throw new ExpositionError(line, `${name} does not belong to ${target.type} ${target.name}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seriesSeen.has(key)) throw new ExpositionError(line, `duplicate series ${key}`);
    seriesSeen.add(key);
    if (target.type === 'counter' && !(value >= 0)) throw new ExpositionError(line, `counter ${name} is ${value}`);
    target.samples.push({ name, labels, value });
  });

  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** The value of one series: the sample named `name` whose labels include `labels`; throws unless exactly one. */
export function sampleValue(
  families: Map<string, MetricFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const matches = [...families.values()]
    .flatMap((family) => family.samples)
    .filter((sample) => sample.name === name && Object.entries(labels).every(([k, v]) => sample.labels[k] === v));
  if (matches.length !== 1) throw new Error(`${matches.length} series match ${name}${JSON.stringify(labels)}`);
  return (matches[0] as Sample).value;
}

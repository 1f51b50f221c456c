/**
 * @module
 * Durations written as Kubernetes writes them (Go's `time.ParseDuration` and `Duration.String`):
 * `10s`, `50ms`, `1m30s`, `1.5h`. The API server's flags (`--audit-webhook-initial-backoff=10s`)
 * and client-go's `?timeout=30s` use this form, so the CLI reads and writes it too.
 */

const NANOS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  µs: 1e3, // U+00B5 micro sign
  μs: 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const PART = /(\d*)(?:\.(\d*))?([a-zµμ]+)/y;

/**
 * Milliseconds in a Go duration string (`1m30s` → 90000). Negative durations are refused: no
 * flag of this tool means anything with them.
 *
 * @returns undefined when the text is not a duration.
 * @example
 * parseDuration('1.5s'); // 1500
 */
export function parseDuration(text: string): number | undefined {
  const s = text.startsWith('+') ? text.slice(1) : text;
  // Go accepts a bare "0" without a unit.
  if (s === '0') return 0;
  if (s === '') return undefined;
  let nanos = 0;
  let at = 0;
  while (at < s.length) {
    PART.lastIndex = at;
    const match = PART.exec(s);
    if (!match) return undefined;
    const [, whole = '', fraction, unit = ''] = match;
    const scale = NANOS[unit];
    // Go needs a digit before or after the point (".5s" is fine, ".s" is not).
    if (scale === undefined || (whole === '' && (fraction ?? '') === '')) return undefined;
    nanos += Number(whole || '0') * scale + (fraction ? Number(`0.${fraction}`) * scale : 0);
    at = PART.lastIndex;
  }
  return nanos / 1e6;
}

/**
 * A duration in Go's `Duration.String()` form, as client-go writes the `timeout` query parameter:
 * `30000` → `30s`, `90000` → `1m30s`, `50` → `50ms`, `3600000` → `1h0m0s`.
 */
export function formatDuration(ms: number): string {
  const ns = Math.round(ms * 1e6);
  if (ns === 0) return '0s';
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${decimal(ns, 3)}µs`;
  if (ns < 1e9) return `${decimal(ns, 6)}ms`;
  const hours = Math.floor(ns / 3600e9);
  const minutes = Math.floor((ns % 3600e9) / 60e9);
  const seconds = decimal(ns % 60e9, 9);
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/** `value / 10^digits` without trailing zeros: decimal(1500, 3) → `1.5`. */
function decimal(value: number, digits: number): string {
  const scale = 10 ** digits;
  const whole = Math.floor(value / scale);
  const fraction = String(value % scale)
    .padStart(digits, '0')
    .replace(/0+$/, '');
  return fraction === '' ? String(whole) : `${whole}.${fraction}`;
}

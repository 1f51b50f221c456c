/**
 * @module
 * Command-line flags: `node:util` parseArgs in strict mode, with its errors turned into messages
 * that name the flag, and parsers for the value kinds the commands take (whole numbers, rates,
 * durations, files).
 */
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { parseDuration } from './durations';
import { describeFsError, UsageError } from './usage-error';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parse a command's flags; positionals are its files.
 *
 * @throws {UsageError} for an unknown flag, a missing value or a value given to a switch.
 * @example
 * const { values, positionals } = parseFlags(argv, { policy: { type: 'string' } });
 */
export function parseFlags<const O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(describeArgsError(error));
  }
}

function describeArgsError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const flag = /'(-[^' ]*)/.exec(message)?.[1] ?? '';
  const code = (error as { code?: string }).code;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown flag ${flag}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (message.includes('does not take an argument')) return `${flag}: takes no value`;
    // "argument missing", or "ambiguous" when the next word is a flag: `--policy --strict`.
    return `${flag}: missing value`;
  }
  return message;
}

/** The flag's value as a whole number in [min, max], or `fallback` when the flag is absent. */
export function wholeNumber(flag: string, text: string | undefined, fallback: number, min = 0, max = 2 ** 31): number {
  if (text === undefined) return fallback;
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) {
    const range = max < 2 ** 31 ? `from ${min} to ${max}` : `≥ ${min}`;
    throw new UsageError(`--${flag}: must be a whole number ${range} (got ${JSON.stringify(text)})`);
  }
  return value;
}

/** The flag's value as a decimal number ≥ 0 (a rate such as `--qps 2.5`). */
export function decimalNumber(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = /^(\d+\.?\d*|\.\d+)$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(value)) throw new UsageError(`--${flag}: must be a number ≥ 0 (got ${JSON.stringify(text)})`);
  return value;
}

/**
 * The flag's value as a Kubernetes-style duration in milliseconds (`10s`, `50ms`, `1m30s`);
 * `0` is refused when `allowZero` is false (a timeout).
 */
export function duration(flag: string, text: string | undefined, fallback: number, allowZero = true): number {
  if (text === undefined) return fallback;
  const value = parseDuration(text);
  if (value === undefined || (!allowZero && value === 0)) {
    const what = allowZero ? 'a duration' : 'a duration above 0';
    throw new UsageError(`--${flag}: must be ${what} such as 10s, 500ms or 1m30s (got ${JSON.stringify(text)})`);
  }
  return value;
}

/** The whole content of a file named by a flag; an unreadable file is a usage error naming both. */
export function readFlagFile(flag: string, file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  if (file === '') throw new UsageError(`--${flag}: missing file name`);
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--${flag}: cannot read ${file}: ${describeFsError(error)}`);
  }
}

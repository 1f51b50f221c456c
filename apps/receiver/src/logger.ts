/**
 * @module
 * Diagnostics as JSON lines (`{"level":…,"time":…,"msg":…}`) on a stream other than the audit
 * lines. A client can make the receiver log (an invalid item, a bad request), so what is logged is
 * bounded: every line is one JSON object on one line (strings are JSON-escaped, never embedded
 * raw), each string is cut to `MAX_LOG_STRING` characters, and past `maxLinesPerSecond` lines are
 * counted instead of written, with one line saying how many were left out.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Write what is buffered now, and the count of lines left out (call before exiting). */
  flush(): void;
}

export interface LoggerOptions {
  /** Lines written per second at most; the rest are counted and reported in one line. @default 100 */
  maxLinesPerSecond?: number;
  /** @default () => new Date() */
  now?: () => Date;
}

/** Longest string value in a log line, in UTF-16 units; longer ones end in a marker. */
export const MAX_LOG_STRING = 1024;

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

function capString(value: string): string {
  return value.length <= MAX_LOG_STRING
    ? value
    : `${value.slice(0, MAX_LOG_STRING)}…[${value.length - MAX_LOG_STRING} more characters]`;
}

function encode(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(capString(value.message));
  if (typeof value === 'string') return JSON.stringify(capString(value));
  return JSON.stringify(value, (_key, inner) => (typeof inner === 'string' ? capString(inner) : inner)) ?? 'null';
}

/**
 * @example
 * const logger = createLogger((line) => process.stderr.write(line), 'info');
 * logger.warn('invalid audit events', { count: 1, first: [{ index: 0, reason: 'missing auditID' }] });
 */
export function createLogger(
  write: (text: string) => void,
  level: LogLevel = 'info',
  options: LoggerOptions = {},
): Logger {
  const { maxLinesPerSecond = 100, now = () => new Date() } = options;
  const threshold = rank[level];
  // Lines logged in one synchronous stretch go out in one write instead of one system call each.
  let pending = '';
  let windowStart = Number.NEGATIVE_INFINITY;
  let linesInWindow = 0;
  let suppressed = 0;
  let reportTimer: ReturnType<typeof setTimeout> | undefined;

  const flushPending = () => {
    if (pending === '') return;
    const text = pending;
    pending = '';
    write(text);
  };
  const format = (lvl: Exclude<LogLevel, 'silent'>, time: Date, msg: string, fields?: LogFields) => {
    let line = `{"level":"${lvl}","time":"${time.toISOString()}","msg":${encode(msg)}`;
    if (fields) {
      for (const [key, value] of Object.entries(fields)) {
        if (value === undefined) continue;
        line += `,${JSON.stringify(key)}:${encode(value)}`;
      }
    }
    return `${line}}\n`;
  };
  const queue = (line: string) => {
    if (pending === '') queueMicrotask(flushPending);
    pending += line;
  };
  /** The line that stands for those left out; written when the next window opens, or on flush. */
  const reportSuppressed = (time: Date) => {
    if (reportTimer !== undefined) clearTimeout(reportTimer);
    reportTimer = undefined;
    if (suppressed === 0) return;
    queue(format('warn', time, 'log lines left out', { count: suppressed, maxLinesPerSecond }));
    suppressed = 0;
  };

  const log = (lvl: Exclude<LogLevel, 'silent'>) =>
    function logLine(msg: string, fields?: LogFields): void {
      if (rank[lvl] < threshold) return;
      const time = now();
      const ms = time.getTime();
      if (ms - windowStart >= 1000) {
        reportSuppressed(time);
        windowStart = ms;
        linesInWindow = 0;
      }
      if (linesInWindow >= maxLinesPerSecond) {
        suppressed++;
        // Report even when nothing else is logged afterwards.
        reportTimer ??= setTimeout(() => {
          reportTimer = undefined;
          reportSuppressed(now());
        }, 1000);
        return;
      }
      linesInWindow++;
      queue(format(lvl, time, msg, fields));
    };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    flush() {
      reportSuppressed(now());
      flushPending();
    },
  };
}

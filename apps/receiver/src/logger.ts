/**
 * @module
 * Diagnostics as JSON lines (`{"level":…,"time":…,"msg":…}`) on a stream other than the audit
 * lines. Values wrapped in `RawJson` are embedded as they are, so an invalid item is logged as
 * received instead of being re-encoded.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** JSON text to embed verbatim in a log line. */
export class RawJson {
  constructor(readonly text: string) {}
}

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Write what is buffered now (call before exiting). */
  flush(): void;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * @example
 * const logger = createLogger((line) => process.stderr.write(line), 'info');
 * logger.warn('invalid audit event', { reason: 'missing auditID', item: new RawJson('{}') });
 */
export function createLogger(write: (text: string) => void, level: LogLevel = 'info', now = () => new Date()): Logger {
  const threshold = rank[level];
  // Lines logged in one synchronous stretch (e.g. every invalid item of a batch) go out in one
  // write instead of one system call each.
  let pending = '';
  const flush = () => {
    if (pending === '') return;
    const text = pending;
    pending = '';
    write(text);
  };
  const writeLine = (line: string) => {
    if (pending === '') queueMicrotask(flush);
    pending += line;
  };
  const log = (lvl: Exclude<LogLevel, 'silent'>) =>
    function logLine(msg: string, fields?: LogFields): void {
      if (rank[lvl] < threshold) return;
      let line = `{"level":"${lvl}","time":"${now().toISOString()}","msg":${JSON.stringify(msg)}`;
      if (fields) {
        for (const [key, value] of Object.entries(fields)) {
          if (value === undefined) continue;
          const text =
            value instanceof RawJson
              ? value.text
              : value instanceof Error
                ? JSON.stringify(value.message)
                : JSON.stringify(value);
          line += `,${JSON.stringify(key)}:${text}`;
        }
      }
      writeLine(`${line}}\n`);
    };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), flush };
}

/**
 * @module
 * Audit events from files and stdin, as the CLI's commands read them. A file is either JSON lines
 * (what the API server's log backend writes with `--audit-log-path`: one Event per line) or one
 * JSON document (an EventList, an Event or an array of events, e.g. a captured webhook body).
 * JSON lines are read in bounded memory, whatever the file's size.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { type AuditEvent, type ParsedPayload, PayloadError, parsePayload } from '@kube-audit/core';
import { readBytes, STDIN } from './bytes';
import { LineTooLongError, MAX_LINE_BYTES, splitLines } from './lines';
import { describeFsError, UsageError } from './usage-error';

/** Input that is not an audit event, and where it was. */
export interface InvalidInput {
  /** `FILE:LINE` for JSON lines, `FILE` or `FILE: items[N]` for a document. */
  readonly where: string;
  /** Why, without the content (audit events can hold secrets). */
  readonly reason: string;
}

export interface EventChunk {
  readonly events: AuditEvent[];
  readonly invalid: InvalidInput[];
}

export interface ReadEventsOptions {
  stdin: NodeJS.ReadableStream;
  /** Most events per chunk. @default 1000 */
  chunkSize?: number;
  /** Called with the bytes read from each file (before gunzip), for progress. */
  onRead?: (bytes: number) => void;
}

/**
 * The longest JSON document (a pretty-printed EventList, an export) a file may be, in characters:
 * four of the largest webhook bodies, well below V8's string limit (2^29 characters).
 */
export const MAX_DOCUMENT_LENGTH = 4 * MAX_LINE_BYTES;

/** How standard input is named in messages. */
export function displayName(file: string): string {
  return file === STDIN ? '<stdin>' : file;
}

/**
 * The files to read (stdin when none), each checked to be a readable file, so that a typo fails
 * before any output is written.
 *
 * @throws {UsageError} naming the file.
 */
export function checkInputs(files: readonly string[], stdin: { isTTY?: boolean }): string[] {
  // Waiting on a terminal for events nobody will type is never what was meant.
  if (files.length === 0 && stdin.isTTY) throw new UsageError('no input: name FILE… or pipe audit events to stdin');
  const inputs = files.length === 0 ? [STDIN] : [...files];
  if (inputs.filter((file) => file === STDIN).length > 1) throw new UsageError('- (stdin) can be read only once');
  for (const file of inputs) {
    if (file === STDIN) continue;
    try {
      if (statSync(file).isDirectory()) throw new UsageError(`cannot read ${file}: is a directory`);
      accessSync(file, constants.R_OK);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      if (error instanceof LineTooLongError) {
        throw new UsageError(
          `${displayName(file)}:${error.line}: line longer than ${error.limit} bytes (from byte ${error.offset}), ` +
            'more than any audit event can be; stopped reading',
        );
      }
      throw new UsageError(`cannot read ${file}: ${describeFsError(error)}`);
    }
  }
  return inputs;
}

/**
 * The events of each file in turn, in chunks of at most `chunkSize`, with the invalid input met
 * on the way.
 *
 * @example
 * for await (const { events, invalid } of readEvents(checkInputs(files, process.stdin), { stdin: process.stdin })) {
 *   process.stdout.write(pipeline.process({ events, invalid }).lines);
 * }
 */
export async function* readEvents(files: readonly string[], options: ReadEventsOptions): AsyncGenerator<EventChunk> {
  for (const file of files) {
    try {
      yield* readFile(file, options);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      if (error instanceof LineTooLongError) {
        throw new UsageError(
          `${displayName(file)}:${error.line}: line longer than ${error.limit} bytes (from byte ${error.offset}), ` +
            'more than any audit event can be; stopped reading',
        );
      }
      // A read error mid-file (a truncated .gz, an I/O error) is the same as an unreadable file.
      throw new UsageError(`cannot read ${displayName(file)}: ${describeReadError(error)}`);
    }
  }
}

async function* readFile(file: string, options: ReadEventsOptions): AsyncGenerator<EventChunk> {
  const name = displayName(file);
  const chunkSize = options.chunkSize ?? 1000;
  const lines = splitLines(readBytes(file, { stdin: options.stdin, onRead: options.onRead }))[Symbol.asyncIterator]();

  // Look at the first non-blank line to tell JSON lines from one document.
  const head: string[] = [];
  let first: string | undefined;
  while (first === undefined) {
    const next = await lines.next();
    if (next.done) break;
    head.push(...next.value);
    first = next.value.find((line) => line.trim() !== '');
  }
  if (first === undefined) return;

  if (isDocumentStart(first)) {
    yield* readDocument(name, head, lines, chunkSize);
    return;
  }

  let lineNumber = 0;
  let events: AuditEvent[] = [];
  let invalid: InvalidInput[] = [];
  for (let batch: string[] | undefined = head; batch !== undefined; ) {
    for (const line of batch) {
      lineNumber++;
      if (line.charCodeAt(0) !== 123 && line.trim() === '') continue;
      for (const event of parseLogLine(line, `${name}:${lineNumber}`, invalid)) events.push(event);
      if (events.length >= chunkSize) {
        yield { events, invalid };
        [events, invalid] = [[], []];
      }
    }
    // Hand over what each read produced, so that events from a slow producer on stdin are not held back.
    if (events.length > 0 || invalid.length > 0) {
      yield { events, invalid };
      [events, invalid] = [[], []];
    }
    const next = await lines.next();
    batch = next.done ? undefined : next.value;
  }
}

/**
 * A document when it opens with `[`, or with `{` on a line that is not a whole JSON value (a
 * pretty-printed EventList). Anything else is read as JSON lines, so that one broken line of a
 * log is reported alone rather than failing the whole file.
 */
function isDocumentStart(first: string): boolean {
  const text = first.trim();
  if (text.startsWith('[')) return true;
  if (!text.startsWith('{')) return false;
  try {
    JSON.parse(text);
    return false;
  } catch {
    return true;
  }
}

async function* readDocument(
  name: string,
  head: string[],
  rest: AsyncIterator<string[]>,
  chunkSize: number,
): AsyncGenerator<EventChunk> {
  // Held whole to be parsed, one string per read: a pretty-printed document of short lines is
  // bounded like a long line, and an endless one ends with an error.
  const parts = [head.join('\n')];
  let size = (parts[0] as string).length;
  let lines = head.length;
  for (let next = await rest.next(); !next.done; next = await rest.next()) {
    const part = next.value.join('\n');
    parts.push(part);
    size += part.length + 1;
    lines += next.value.length;
    if (size > MAX_DOCUMENT_LENGTH)
      throw new UsageError(
        `${name}:${lines}: a JSON document longer than ${MAX_DOCUMENT_LENGTH} characters, more than ` +
          'an audit log document can be; stopped reading',
      );
  }
  const invalid: InvalidInput[] = [];
  const parsed = parseLine(parts.join('\n'), name, invalid);
  const events = parsed?.events ?? [];
  if (events.length === 0) yield { events, invalid };
  for (let i = 0; i < events.length; i += chunkSize) {
    yield { events: events.slice(i, i + chunkSize), invalid: i === 0 ? invalid : [] };
  }
}

/**
 * The events of one log line. `parsePayload` scans a bare Event twice (for `kind`/`items`, then as
 * an event) but an array item once, which doubles throughput on large logs; anything but exactly
 * one valid event is parsed again bare, so that messages and positions refer to the line as is.
 */
function parseLogLine(line: string, where: string, invalid: InvalidInput[]): readonly AuditEvent[] {
  try {
    const wrapped = parsePayload(`[${line}]`);
    if (wrapped.received === 1 && wrapped.events.length === 1) return wrapped.events;
  } catch (error) {
    if (!(error instanceof PayloadError)) throw error;
  }
  return parseLine(line, where, invalid)?.events ?? [];
}

/** Parse one line (or document); its problems are added to `invalid`. */
function parseLine(text: string, where: string, invalid: InvalidInput[]): ParsedPayload | undefined {
  let parsed: ParsedPayload;
  try {
    parsed = parsePayload(text);
  } catch (error) {
    if (!(error instanceof PayloadError)) throw error;
    invalid.push({ where, reason: reasonOf(error) });
    return undefined;
  }
  for (const item of parsed.invalid) {
    const at = parsed.shape === 'EventList' ? `items[${item.index}]` : `[${item.index}]`;
    invalid.push({ where: `${where}: ${at}`, reason: item.reason });
  }
  return parsed;
}

/** The core speaks of a webhook "body"; here it is a line or a file. */
function reasonOf(error: PayloadError): string {
  return error.message.replace(/^body (is )?/, '');
}

function describeReadError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'Z_BUF_ERROR' || code === 'Z_DATA_ERROR') return `not valid gzip (${(error as Error).message})`;
  return describeFsError(error);
}

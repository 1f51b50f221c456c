/**
 * @module
 * Many lines of an audit log in one call: the events of the lines that are each one audit event
 * as the API server's log backend writes them, parsed with one scanner and one member table for
 * all of them; every other line is handed back, to be read (or reported) on its own.
 */
import { type AuditEvent, MemberTable } from './event';
import { isForwarded, type UnwrapOptions } from './formats';
import type { ByteScanner } from './internal/json-bytes';
import { JsonSyntaxError } from './internal/json-scan';
import { DEFAULT_API_VERSION, eventScanner, looksLikeEvent, scanEvent } from './parse';

/** A line of a chunk that {@link parseLines} did not read as an event. */
export interface OtherLine {
  /** Index of the line among the chunk's lines, from 0 (blank lines counted). */
  readonly line: number;
  /** Where the line stands in the chunk, in bytes, its `\n` excluded (a `\r` before it included). */
  readonly start: number;
  readonly end: number;
  /** How many of `events` come from lines before this one: where its records go among them. */
  readonly eventsBefore: number;
}

/** What {@link parseLines} found in a chunk. */
export interface ParsedLines {
  /** The events of the lines that are one audit event each, in order; `source` of each is the chunk. */
  readonly events: AuditEvent[];
  /** The lines that are neither blank nor one audit event, in order. */
  readonly others: OtherLine[];
  /** Number of lines in the chunk: its `\n`s, and one more when it does not end with one. */
  readonly lines: number;
}

/**
 * Read a chunk of whole log lines (split on `\n`; a last line without one is a line too). A
 * line comes back in `events` exactly when {@link unwrapRecords} would read it, on its own, as a
 * single API server event; other lines that are not blank (whitespace only) come back in
 * `others`, for the caller to pass to `unwrapRecords` (a cloud export's record, base64, invalid
 * JSON, an invalid event…), so that each is read and reported as before, with its line number.
 * An API server log is read with one scan and one member table for all its lines, instead of
 * one parse per line.
 *
 * @example
 * const { events, others } = parseLines(chunk);
 * for (const other of others) console.error(`line ${first + other.line}: not an audit event`);
 */
export function parseLines(chunk: Uint8Array, options: UnwrapOptions = {}): ParsedLines {
  const forced = options.format;
  const defaultApiVersion = options.defaultApiVersion ?? DEFAULT_API_VERSION;
  const b = chunk;
  const n = b.length;
  const events: AuditEvent[] = [];
  const others: OtherLine[] = [];
  const fast = forced === undefined || forced === 'kubernetes';
  const sc = eventScanner();
  const table = new MemberTable(b);
  let line = 0;
  for (let start = 0; start < n; line++) {
    let end = b.indexOf(10, start);
    const next = end === -1 ? n : end + 1;
    if (end === -1) end = n;
    if (!(fast && b[start] === 123 && eventLine(sc, b, start, end, defaultApiVersion, table, events, forced))) {
      if (!isBlank(b, start, end)) others.push({ line, start, end, eventsBefore: events.length });
    }
    start = next;
  }
  return { events, others, lines: line };
}

/** True when `b[start, end)` is whitespace only (checked within the line: a run of blank lines is not read again per line). */
function isBlank(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

/**
 * Add the event of the line `b[start, end)` (which opens with `{`) and return true, if the line
 * is one event that `unwrapRecords` reads as such; false leaves the line to it.
 */
function eventLine(
  sc: ByteScanner,
  b: Uint8Array,
  start: number,
  end: number,
  defaultApiVersion: string,
  table: MemberTable,
  events: AuditEvent[],
  forced: UnwrapOptions['format'],
): boolean {
  // The scan reads past the line's end when its object is not closed there. A line whose last
  // token is not `}` is left to be read alone; one that is cannot run on past the next line
  // that opens with `{` (a value cannot follow `}`), so no byte is scanned for more than one line.
  let last = end - 1;
  while (last > start && (b[last] === 32 || b[last] === 9 || b[last] === 13)) last--;
  if (b[last] !== 125 || !looksLikeEvent(b, start)) return false;
  let scanned: ReturnType<typeof scanEvent>;
  try {
    scanned = scanEvent(sc, b, start, 0, defaultApiVersion, table);
  } catch (error) {
    if (error instanceof JsonSyntaxError) return false;
    throw error;
  }
  // Only whitespace may follow the object on its line (the scan succeeded, so it is UTF-8 too).
  if (scanned.event === undefined || scanned.end !== last + 1) return false;
  if (forced !== 'kubernetes' && isForwarded(scanned.event)) return false;
  events.push(scanned.event);
  return true;
}

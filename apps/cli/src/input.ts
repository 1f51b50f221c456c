/**
 * @module
 * Audit events from files and stdin, as the CLI's commands read them. A file is either JSON lines
 * (what the API server's log backend writes with `--audit-log-path`: one Event per line) or one
 * JSON document (an EventList, an Event or an array of events, e.g. a captured webhook body).
 * JSON lines are read in bounded memory, whatever the file's size. Each line or document may also
 * be a record of a cloud export (EKS, AKS, GKE, OpenShift): see ./records.
 */
import { isUtf8 } from 'node:buffer';
import { accessSync, constants, statSync } from 'node:fs';
import { type AuditEvent, type LogFormat, parseLines } from '@kube-audit/core';
import { readBytes, STDIN } from './bytes';
import { ItemSplitter } from './items';
import { isBlank, LineTooLongError, linesOf, MAX_LINE_BYTES, splitLineBlocks } from './lines';
import { addRecords, type Found, type InvalidInput } from './records';
import { describeFsError, UsageError } from './usage-error';

export type { InvalidInput };

export interface EventChunk {
  readonly events: AuditEvent[];
  /** `clusters[i]`: the cluster the envelope of `events[i]` named (EKS log group, AKS resource…), if any. */
  readonly clusters: (string | undefined)[];
  readonly invalid: InvalidInput[];
}

export interface ReadEventsOptions {
  stdin: NodeJS.ReadableStream;
  /** Most events per chunk. @default 1000 */
  chunkSize?: number;
  /** Called with the bytes read from each file (before gunzip), for progress. */
  onRead?: (bytes: number) => void;
  /** Read every record as this format (`--format`); detected per line or document when absent. */
  format?: LogFormat | undefined;
  /**
   * The caller is done with a chunk's events when it asks for the next chunk (it keeps no event
   * and none of its bytes): files are then read into the same memory each time. @default false
   */
  reuse?: boolean;
}

/**
 * The longest JSON document (a pretty-printed EventList, an export) a file may be, in characters,
 * when it cannot be read item by item: four of the largest webhook bodies, well below V8's string
 * limit (2^29 characters).
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
 *   for (const chunk of pipeline.process({ events, invalid }).chunks) process.stdout.write(chunk);
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
  const format = options.format;
  const reads = splitLineBlocks(
    readBytes(file, { stdin: options.stdin, onRead: options.onRead, reuse: options.reuse }),
  )[Symbol.asyncIterator]();

  // Look at the first non-blank line to tell JSON lines from one document.
  const head: Buffer[] = [];
  let first: Buffer | undefined;
  while (first === undefined) {
    const next = await reads.next();
    if (next.done) break;
    for (const block of next.value) {
      first ??= linesOf(block).find((line) => !isBlank(line));
    }
    // Blank lines kept for more reads are copied, as their memory may be read into again.
    head.push(...(first === undefined ? next.value.map((block) => Buffer.from(block)) : next.value));
  }
  if (first === undefined) return;

  if (isDocumentStart(first.toString('utf8'))) {
    const lines: Buffer[] = [];
    for (const block of head) linesOf(block, lines);
    yield* readDocument(name, lines, linesRead(reads), chunkSize, format);
    return;
  }

  // Many lines per parse: the lines that are API server events are read together, any other
  // line alone (a cloud export's record, or invalid input reported with its line number).
  const parseOptions = format === undefined ? {} : { format };
  let lineNumber = 0;
  for (let batch: Buffer[] | undefined = head; batch !== undefined; ) {
    let found: Found = { events: [], clusters: [], invalid: [] };
    for (const block of batch) {
      const parsed = parseLines(block, parseOptions);
      if (found.events.length === 0 && found.invalid.length === 0 && parsed.others.length === 0) {
        found = { events: parsed.events, clusters: new Array(parsed.events.length), invalid: [] };
      } else {
        const { events, clusters } = found;
        let taken = 0;
        const take = (to: number) => {
          for (; taken < to; taken++) {
            events.push(parsed.events[taken] as AuditEvent);
            clusters.push(undefined);
          }
        };
        for (const other of parsed.others) {
          take(other.eventsBefore);
          const where = `${name}:${lineNumber + other.line + 1}`;
          addRecords(block.subarray(other.start, other.end), where, format, found);
        }
        take(parsed.events.length);
      }
      lineNumber += parsed.lines;
    }
    // Hand over what each read produced, so that events from a slow producer on stdin are not
    // held back; at most chunkSize events at a time.
    const { events, clusters, invalid } = found;
    if (events.length <= chunkSize) {
      if (events.length > 0 || invalid.length > 0) yield found;
    } else
      for (let i = 0; i < events.length; i += chunkSize) {
        yield {
          events: events.slice(i, i + chunkSize),
          clusters: clusters.slice(i, i + chunkSize),
          invalid: i === 0 ? invalid : [],
        };
      }
    const next = await reads.next();
    batch = next.done ? undefined : next.value;
  }
}

/** The lines of each read, for what reads a file line by line. */
async function* linesRead(reads: AsyncIterator<Buffer[]>): AsyncGenerator<Buffer[]> {
  for (let next = await reads.next(); !next.done; next = await reads.next()) {
    const lines: Buffer[] = [];
    for (const block of next.value) linesOf(block, lines);
    yield lines;
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

/**
 * One JSON document. Item by item when its records are the items of one array (see ./items), so
 * that a large export streams; otherwise whole.
 */
async function* readDocument(
  name: string,
  head: Buffer[],
  rest: AsyncIterator<Buffer[]>,
  chunkSize: number,
  format: LogFormat | undefined,
): AsyncGenerator<EventChunk> {
  const splitter = new ItemSplitter();
  /** Lines fed before the splitter decided: what is read whole if it cannot split. */
  let held: string[] | undefined = [];
  let heldLength = 0;
  let lineNumber = 0;
  // Held whole to be parsed: a pretty-printed document of short lines is bounded like a long
  // line, and an endless one ends with an error.
  const hold = (line: string) => {
    if (held === undefined) return;
    held.push(line);
    heldLength += line.length + 1;
    if (heldLength > MAX_DOCUMENT_LENGTH)
      throw new UsageError(
        `${name}:${lineNumber}: a JSON document longer than ${MAX_DOCUMENT_LENGTH} characters, more than ` +
          'an audit log document can be; stopped reading',
      );
  };
  let found: Found = { events: [], clusters: [], invalid: [] };
  for (let batch: Buffer[] | undefined = head; batch !== undefined; ) {
    for (const bytes of batch) {
      const line = bytes.toString('utf8');
      lineNumber++;
      // A document is split as text: a line that is not UTF-8 is read with U+FFFD in place of
      // its bad bytes, and said so (the events it holds are not dropped).
      if (!isUtf8(bytes))
        found.invalid.push({
          where: `${name}:${lineNumber}`,
          reason: 'not valid UTF-8 (read with U+FFFD in its place)',
        });
      if (!splitter.whole) {
        hold(line);
        const items = splitter.push(`${line}\n`);
        if (items && items.length > 0) held = undefined;
        for (const item of items ?? []) addRecords(item.text, name, format, found, item.at);
        // One item is held whole until it completes: past the line limit, stop reading the document.
        if (splitter.pending > MAX_LINE_BYTES) {
          found.invalid.push({
            where: name,
            reason: `an item longer than ${MAX_LINE_BYTES} bytes (the rest of the document is not read)`,
          });
          yield found;
          return;
        }
        if (found.events.length >= chunkSize) {
          yield found;
          found = { events: [], clusters: [], invalid: [] };
        }
      } else hold(line);
    }
    const next = await rest.next();
    batch = next.done ? undefined : next.value;
  }
  const end = splitter.finish();
  if (end === undefined && held !== undefined) {
    // Read whole after all: what was found on the way is only what the lines said of themselves.
    yield* readWhole(name, held, chunkSize, format, found.invalid);
    return;
  }
  if (end?.error) found.invalid.push({ where: name, reason: `not valid JSON: ${end.error}` });
  yield found;
}

async function* readWhole(
  name: string,
  parts: string[],
  chunkSize: number,
  format: LogFormat | undefined,
  invalidLines: InvalidInput[],
): AsyncGenerator<EventChunk> {
  const found: Found = { events: [], clusters: [], invalid: [...invalidLines] };
  addRecords(parts.join('\n'), name, format, found);
  const { events, clusters, invalid } = found;
  if (events.length === 0) yield found;
  for (let i = 0; i < events.length; i += chunkSize) {
    yield {
      events: events.slice(i, i + chunkSize),
      clusters: clusters.slice(i, i + chunkSize),
      invalid: i === 0 ? invalid : [],
    };
  }
}

function describeReadError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'Z_BUF_ERROR' || code === 'Z_DATA_ERROR') return `not valid gzip (${(error as Error).message})`;
  return describeFsError(error);
}

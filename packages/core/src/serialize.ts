/**
 * @module
 * One line per event: `{"kind":"Event","apiVersion":…` first, so that tools decoding by type
 * (audit2rbac, the log backend's consumers) accept each line, then the fields in the order
 * received, as received. Only fields a pipeline step changed are written anew; an event no step
 * changed is copied from the bytes it arrived in.
 */
import type { AuditEvent } from './event';
import { decodeBytes, utf8Encoder } from './internal/json-bytes';
import { minify } from './internal/json-scan';

const prefixes = new Map<string, { text: string; bytes: Uint8Array }>();

function prefixEntry(apiVersion: string): { text: string; bytes: Uint8Array } {
  let prefix = prefixes.get(apiVersion);
  if (prefix === undefined) {
    const text = `{"kind":"Event","apiVersion":${JSON.stringify(apiVersion)}`;
    prefix = { text, bytes: utf8Encoder.encode(text) };
    if (prefixes.size < 16) prefixes.set(apiVersion, prefix);
  }
  return prefix;
}

/** The opening of an event's line: `{"kind":"Event","apiVersion":…` (without a closing brace). */
export function prefixOf(apiVersion: string): string {
  return prefixEntry(apiVersion).text;
}

/**
 * The event as one line of JSON, without the trailing newline.
 *
 * @example
 * const { events } = parsePayload(body);
 * process.stdout.write(events.map(serializeEvent).join('\n') + '\n');
 */
export function serializeEvent(event: AuditEvent): string {
  const s = event.source;
  const prefix = prefixOf(event.apiVersion);
  const start = copyStart(event);
  if (start >= 0) {
    if (event.typed) return decodeBytes(s, start, event.end);
    // The item's `{` becomes the prefix's `,` (`{}` keeps its `}` only).
    return start === event.start
      ? `${prefix},${decodeBytes(s, start + 1, event.end)}`
      : `${prefix}${decodeBytes(s, start, event.end)}`;
  }
  const overrides = event.overrides();
  let line = prefix;
  for (const m of event.members) {
    if (m.key === 'kind' || m.key === 'apiVersion') continue;
    const key = event.compact
      ? decodeBytes(s, m.keyStart, m.valueStart - 1)
      : minify(decodeBytes(s, m.keyStart, m.valueStart), 0, m.valueStart - m.keyStart).slice(0, -1);
    if (overrides?.has(m.key)) {
      const raw = overrides.get(m.key);
      if (raw !== undefined) line += `,${key}:${raw}`;
    } else {
      const value = decodeBytes(s, m.valueStart, m.valueEnd);
      line += `,${key}:${event.compact ? value : minify(value, 0, value.length)}`;
    }
  }
  for (const [key, raw] of event.added()) line += `,${JSON.stringify(key)}:${raw}`;
  return `${line}}`;
}

/**
 * Where an unchanged event's line can be copied from its bytes: from the returned offset to the
 * event's end, behind the prefix when the event is untyped. -1 when the line must be built (a step
 * changed the event, it arrived pretty-printed, or its kind and apiVersion are not the line's
 * opening as they stand).
 */
function copyStart(event: AuditEvent): number {
  if (!event.pristine || !event.compact) return -1;
  const { first, count } = event;
  // The common case: a webhook item, untyped: the prefix, then all of it after its `{`. (`{}`
  // cannot be a valid event, but is kept right: the prefix and its closing brace.)
  if (!event.typed) return count === 0 ? event.end - 1 : event.start;
  // A log line: `{"kind":"Event","apiVersion":"audit.k8s.io/v1",…` is its own line already, if
  // no other member is named kind or apiVersion.
  const keys = event.table.keys;
  const prefix = prefixEntry(event.apiVersion).bytes;
  const b = event.source;
  const at = event.start + prefix.length;
  if (count < 2 || keys[first] !== 'kind' || keys[first + 1] !== 'apiVersion' || (b[at] !== 44 && b[at] !== 125))
    return -1;
  for (let k = 0; k < prefix.length; k++) if (b[event.start + k] !== prefix[k]) return -1;
  for (let k = first + 2; k < first + count; k++) if (keys[k] === 'kind' || keys[k] === 'apiVersion') return -1;
  return event.start;
}

/**
 * Lines as UTF-8 bytes in pieces of about `chunkBytes` (whole lines each), for writing: an
 * unchanged event is copied from the bytes it arrived in, a changed one is encoded.
 */
export class LineWriter {
  readonly chunks: Uint8Array[] = [];
  #buffer: Uint8Array;
  #length = 0;

  /** `first`: the first piece's memory, or its size when less is expected than a whole piece. */
  constructor(
    readonly chunkBytes = 1 << 20,
    first: number | Uint8Array = chunkBytes,
  ) {
    this.#buffer = typeof first === 'number' ? new Uint8Array(Math.min(chunkBytes, first)) : first;
  }

  /**
   * Copy the line of an event no step changed from the bytes it came in, if it can be copied and
   * its line with the newline is at most `max` bytes (0: any length). False when it must be built.
   */
  copy(event: AuditEvent, max: number): boolean {
    let start = copyStart(event);
    if (start < 0) return false;
    const prefix = event.typed ? undefined : prefixEntry(event.apiVersion).bytes;
    // With the prefix, the item's `{` becomes its `,`; the newline is counted in both cases.
    const length = (prefix ? prefix.length : 0) + event.end - start + 1;
    if (max > 0 && length > max) return false;
    const out = this.#room(length);
    let at = this.#length;
    if (prefix) {
      out.set(prefix, at);
      at += prefix.length;
      // The item's `{` becomes the prefix's `,` (an empty object's `}` is copied as is).
      if (start === event.start) {
        out[at++] = 44;
        start++;
      }
    }
    // A view made directly: subarray would look up the species constructor each time.
    const source = event.source;
    out.set(new Uint8Array(source.buffer, source.byteOffset + start, event.end - start), at);
    at += event.end - start;
    out[at++] = 10;
    this.#length = at;
    return true;
  }

  /** Add a line given as its UTF-8 bytes, without the newline. */
  line(bytes: Uint8Array): void {
    const out = this.#room(bytes.length + 1);
    out.set(bytes, this.#length);
    out[this.#length + bytes.length] = 10;
    this.#length += bytes.length + 1;
  }

  /** The pieces, the last one included. */
  finish(): Uint8Array[] {
    if (this.#length > 0) this.chunks.push(this.#buffer.subarray(0, this.#length));
    this.#length = this.#buffer.length;
    return this.chunks;
  }

  /** The buffer with room for `bytes` more; a new piece when the current one is full. */
  #room(bytes: number): Uint8Array {
    if (this.#length + bytes <= this.#buffer.length) return this.#buffer;
    if (this.#length > 0) this.chunks.push(this.#buffer.subarray(0, this.#length));
    this.#buffer = new Uint8Array(Math.max(this.chunkBytes, bytes));
    this.#length = 0;
    return this.#buffer;
  }
}

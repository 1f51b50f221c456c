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
  const span = copySpan(event);
  if (span !== undefined) {
    if (!span.withPrefix) return decodeBytes(s, span.start, event.end);
    // The item's `{` becomes the prefix's `,` (`{}` keeps its `}` only).
    return span.start === event.start
      ? `${prefix},${decodeBytes(s, span.start + 1, event.end)}`
      : `${prefix}${decodeBytes(s, span.start, event.end)}`;
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
 * Where an unchanged event's line can be copied from its bytes: from `start` to the event's end,
 * behind the prefix or not. Undefined when the line must be built (a step changed the event, it
 * arrived pretty-printed, or its kind and apiVersion are not the line's opening as they stand).
 */
function copySpan(event: AuditEvent): { start: number; withPrefix: boolean } | undefined {
  if (!event.pristine || !event.compact) return undefined;
  const members = event.members;
  // The common case: a webhook item, untyped: the prefix, then all of it after its `{`.
  if (!event.typed) {
    // `{}` cannot be a valid event, but is kept right: the prefix and its closing brace.
    return members.length === 0 ? { start: event.end - 1, withPrefix: true } : { start: event.start, withPrefix: true };
  }
  // A log line: `{"kind":"Event","apiVersion":"audit.k8s.io/v1",…` is its own line already, if
  // no other member is named kind or apiVersion.
  const prefix = prefixEntry(event.apiVersion).bytes;
  const b = event.source;
  const at = event.start + prefix.length;
  if (members[0]?.key !== 'kind' || members[1]?.key !== 'apiVersion' || (b[at] !== 44 && b[at] !== 125))
    return undefined;
  for (let k = 0; k < prefix.length; k++) if (b[event.start + k] !== prefix[k]) return undefined;
  for (let k = 2; k < members.length; k++) {
    const key = (members[k] as { key: string }).key;
    if (key === 'kind' || key === 'apiVersion') return undefined;
  }
  return { start: event.start, withPrefix: false };
}

/**
 * Lines as UTF-8 bytes in pieces of about `chunkBytes` (whole lines each), for writing: an
 * unchanged event is copied from the bytes it arrived in, a changed one is encoded.
 */
export class LineWriter {
  readonly chunks: Uint8Array[] = [];
  #buffer: Uint8Array;
  #length = 0;

  /** `firstBytes`: the size of the first piece, when less is expected than a whole piece. */
  constructor(
    readonly chunkBytes = 1 << 20,
    firstBytes = chunkBytes,
  ) {
    this.#buffer = new Uint8Array(Math.min(chunkBytes, firstBytes));
  }

  /** The byte length of the event's line (newline included) if it can be copied, else -1. */
  copyLength(event: AuditEvent): number {
    const span = copySpan(event);
    if (span === undefined) return -1;
    // With the prefix, the item's `{` becomes its `,`; the newline is counted in both cases.
    return (span.withPrefix ? prefixEntry(event.apiVersion).bytes.length : 0) + event.end - span.start + 1;
  }

  /** Copy the line of an event for which copyLength gave `length`. */
  copy(event: AuditEvent, length: number): void {
    const span = copySpan(event) as { start: number; withPrefix: boolean };
    const out = this.#room(length);
    let at = this.#length;
    if (span.withPrefix) {
      const prefix = prefixEntry(event.apiVersion).bytes;
      out.set(prefix, at);
      at += prefix.length;
      // The item's `{` becomes the prefix's `,` (or its `}` for an empty object, copied as is).
      if (span.start === event.start) {
        out[at++] = 44;
        out.set(event.source.subarray(event.start + 1, event.end), at);
        at += event.end - event.start - 1;
      } else {
        out.set(event.source.subarray(span.start, event.end), at);
        at += event.end - span.start;
      }
    } else {
      out.set(event.source.subarray(span.start, event.end), at);
      at += event.end - span.start;
    }
    out[at++] = 10;
    this.#length = at;
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
    this.#buffer = new Uint8Array(0);
    this.#length = 0;
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

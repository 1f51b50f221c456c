/**
 * @module
 * Turn a webhook body into audit events. The body is an `EventList` (what the API server sends),
 * a single `Event`, or a JSON array of events. A body that is not JSON or none of those shapes
 * is a {@link PayloadError}; an item that is not a valid event does not fail the batch, it comes
 * back in `invalid` with the reason, because the API server re-sends a rejected batch five times.
 */
import { PayloadError } from './errors';
import { AuditEvent, MemberTable } from './event';
import {
  ByteScanner,
  bytesEqual,
  decodeBytes,
  isValidUtf8,
  skipWsBytes as skipWs,
  stringAt,
  Utf8Error,
  utf8Encoder,
} from './internal/json-bytes';
import { JsonSyntaxError, MAX_DEPTH } from './internal/json-scan';
import { CREDENTIAL_KINDS } from './redact';
import { AUDIT_API_VERSIONS, Event, LEVELS, type Level, STAGES, type Stage } from './schema';

/** The apiVersion of events that name none, in a list that names none. */
export const DEFAULT_API_VERSION = 'audit.k8s.io/v1';

/** An item that is not a valid audit event. */
export interface InvalidItem {
  /** Position in the batch (0 for a single event). */
  readonly index: number;
  /** Why it was rejected, e.g. `missing auditID`. Never contains the item's content. */
  readonly reason: string;
  /** The item's JSON text as received. */
  readonly raw: string;
}

/** What {@link parsePayload} found in a body. */
export interface ParsedPayload {
  readonly shape: 'EventList' | 'Event' | 'array';
  /** The list's apiVersion (or `audit.k8s.io/v1`): what items without their own get. */
  readonly apiVersion: string;
  /** Valid events in the order received. */
  readonly events: AuditEvent[];
  /** The invalid items, up to `maxInvalidItems` of them. */
  readonly invalid: InvalidItem[];
  /** Number of invalid items, those past `maxInvalidItems` included. */
  readonly invalidCount: number;
  /** Number of items in the body: `events.length + invalidCount`. */
  readonly received: number;
}

/** Options of {@link parsePayload}. */
export interface ParseOptions {
  /** apiVersion for items of a bare array or a list without one. @default 'audit.k8s.io/v1' */
  defaultApiVersion?: string;
  /**
   * Invalid items kept in `invalid`; the rest are only counted (`invalidCount`). A body of a
   * million `0`s would otherwise take far more memory than its size. @default Infinity
   */
  maxInvalidItems?: number;
}

/** Invalid items as they are met: the first `max` kept, all counted. */
class InvalidItems {
  items: InvalidItem[] = [];
  count = 0;
  constructor(readonly max: number) {}
  /** The item `b[start, end)` at `index`. */
  add(index: number, reason: string, b: Uint8Array, start: number, end: number): void {
    if (this.count++ < this.max) this.items.push({ index, reason, raw: decodeBytes(b, start, end) });
  }
  clear(): void {
    this.items = [];
    this.count = 0;
  }
}

const apiVersions: ReadonlySet<string> = new Set(AUDIT_API_VERSIONS);

/** Expected JSON types of known optional fields, by their first character. */
const OBJECT = 1;
const STRING = 2;
const ARRAY = 4;
const NULL = 8;
/**
 * `null` is accepted where Go accepts it: encoding/json sets a pointer, slice or map to nil and leaves
 * any other type (a string, a struct such as `user`) at its zero value ("The JSON null value unmarshals
 * into an interface, map, pointer, or slice by setting that Go value to nil. Otherwise, unmarshaling a
 * JSON null into any other Go type has no effect on the value and produces no error.").
 */
const fieldTypes: ReadonlyMap<string, number> = new Map(
  Object.entries({
    kind: STRING,
    apiVersion: STRING,
    user: OBJECT | NULL,
    impersonatedUser: OBJECT | NULL,
    authenticationMetadata: OBJECT | NULL,
    sourceIPs: ARRAY | NULL,
    userAgent: STRING | NULL,
    objectRef: OBJECT | NULL,
    responseStatus: OBJECT | NULL,
    requestReceivedTimestamp: STRING | NULL,
    stageTimestamp: STRING | NULL,
    timestamp: STRING | NULL,
    annotations: OBJECT | NULL,
    metadata: OBJECT | NULL,
  }),
);
const typeNames: Readonly<Record<number, string>> = {
  [OBJECT]: 'an object',
  [STRING]: 'a string',
  [OBJECT | NULL]: 'an object or null',
  [ARRAY | NULL]: 'an array or null',
  [STRING | NULL]: 'a string or null',
};

function typeOf(c: number): number {
  return c === 123 ? OBJECT : c === 34 ? STRING : c === 91 ? ARRAY : c === 110 ? NULL : 0;
}

/**
 * Parse a webhook body (or any text holding an EventList, an Event or an array of events): the
 * bytes as received, or text. Bytes are parsed in place, never decoded as a whole; events keep
 * them (see {@link AuditEvent.source}), so that an unchanged event is written out as a copy of its
 * own bytes.
 *
 * @throws {PayloadError} when the body is not UTF-8, not JSON or not one of the three shapes.
 * @example
 * const { events, invalid } = parsePayload(new Uint8Array(await request.arrayBuffer()));
 * for (const event of events) console.log(event.auditID, event.verb, event.requestURI);
 */
export function parsePayload(body: string | Uint8Array, options: ParseOptions = {}): ParsedPayload {
  const defaultApiVersion = options.defaultApiVersion ?? DEFAULT_API_VERSION;
  const maxInvalidItems = options.maxInvalidItems ?? Number.POSITIVE_INFINITY;
  const b = typeof body === 'string' ? utf8Encoder.encode(body) : body;
  try {
    const sc = eventScanner();
    const table = new MemberTable(b);
    // RFC 8259 §8.1: a parser may ignore a leading byte order mark.
    let i = skipWs(b, b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0);
    const c = b[i];
    let result: ParsedPayload;
    if (c === 91) {
      const events: AuditEvent[] = [];
      const invalid = new InvalidItems(maxInvalidItems);
      i = scanItems(sc, b, i, 0, defaultApiVersion, events, invalid, table);
      result = {
        shape: 'array',
        apiVersion: defaultApiVersion,
        events,
        invalid: invalid.items,
        invalidCount: invalid.count,
        received: events.length + invalid.count,
      };
    } else if (c === 123) {
      // An object is a list or a single event; a log line (kind Event first) or an untyped event
      // is scanned once as an event, and only falls back to the list scan when it is not one.
      const single = looksLikeEvent(b, i) ? scanEvent(sc, b, i, 0, defaultApiVersion, table) : undefined;
      if (single?.event) {
        i = single.end;
        result = {
          shape: 'Event',
          apiVersion: defaultApiVersion,
          events: [single.event],
          invalid: [],
          invalidCount: 0,
          received: 1,
        };
      } else {
        const scanned = scanTopObject(sc, b, i, defaultApiVersion, maxInvalidItems, table);
        i = scanned.end;
        result = scanned.result;
      }
    } else if (i >= b.length) {
      throw new PayloadError('body is empty');
    } else {
      sc.skipValue(b, i);
      throw new PayloadError('body must be an EventList, an Event or an array of events');
    }
    if (skipWs(b, i) < b.length) throw new JsonSyntaxError('unexpected data after the JSON value', skipWs(b, i));
    return result;
  } catch (error) {
    if (error instanceof JsonSyntaxError) {
      // UTF-8 is checked as strings are scanned; a byte past ASCII elsewhere is a JSON error
      // unless it is not UTF-8 either, which is then the clearer thing to say.
      if (error instanceof Utf8Error || !isValidUtf8(b)) throw new PayloadError('body is not valid UTF-8');
      throw new PayloadError(`body is not valid JSON: ${error.message}`);
    }
    throw error;
  }
}

/**
 * True when the object at `start` opens like an event rather than a list: its first key is not `items`, `metadata` or `apiVersion`, and if it is `kind`, the kind is `Event`.
 *
 * @internal
 */
export function looksLikeEvent(b: Uint8Array, start: number): boolean {
  const i = skipWs(b, start + 1);
  if (b[i] !== 34) return false;
  for (const key of ['"items"', '"metadata"', '"apiVersion"']) if (bytesEqual(b, i, key)) return false;
  if (!bytesEqual(b, i, '"kind"')) return true;
  const colon = skipWs(b, i + 6);
  return b[colon] === 58 && bytesEqual(b, skipWs(b, colon + 1), '"Event"');
}

function scanItems(
  sc: ByteScanner,
  b: Uint8Array,
  i: number,
  depth: number,
  listApiVersion: string,
  events: AuditEvent[],
  invalid: InvalidItems,
  table: MemberTable,
): number {
  i = skipWs(b, i + 1);
  if (b[i] === 93) return i + 1;
  for (let index = 0; ; index++) {
    const start = i;
    if (b[i] === 123) {
      const item = scanEvent(sc, b, i, depth + 1, listApiVersion, table);
      i = item.end;
      if (item.event) events.push(item.event);
      else invalid.add(index, item.reason, b, start, i);
    } else {
      i = sc.skipValue(b, i, depth + 1);
      invalid.add(index, 'not an object', b, start, i);
    }
    i = skipWs(b, i);
    const c = b[i];
    if (c === 44) i = skipWs(b, i + 1);
    else if (c === 93) return i + 1;
    else throw new JsonSyntaxError(i >= b.length ? 'unexpected end of input' : 'unexpected character', i);
  }
}

function scanTopObject(
  sc: ByteScanner,
  b: Uint8Array,
  start: number,
  defaultApiVersion: string,
  maxInvalidItems: number,
  table: MemberTable,
): { end: number; result: ParsedPayload } {
  const events: AuditEvent[] = [];
  const invalid = new InvalidItems(maxInvalidItems);
  let kindRaw: [number, number] | undefined;
  let apiVersionRaw: [number, number] | undefined;
  let hasItems = false;
  let itemsType = 0;
  // Items are scanned before the list's apiVersion may be known (keys can come in any order), so
  // they get a placeholder that is resolved below.
  let i = skipWs(b, start + 1);
  let end: number;
  if (b[i] === 125) end = i + 1;
  else
    for (;;) {
      if (b[i] !== 34) throw new JsonSyntaxError(i >= b.length ? 'unexpected end of input' : 'expected a key', i);
      const keyEnd = sc.skipString(b, i);
      const key = stringAt(b, i, keyEnd, sc.escaped);
      i = skipWs(b, keyEnd);
      if (b[i] !== 58) throw new JsonSyntaxError("expected ':'", i);
      const valueStart = skipWs(b, i + 1);
      const c = b[valueStart] as number;
      let valueEnd: number;
      if (key === 'items') {
        hasItems = true;
        itemsType = typeOf(c);
        events.length = 0;
        invalid.clear();
        valueEnd =
          c === 91 ? scanItems(sc, b, valueStart, 1, '', events, invalid, table) : sc.skipValue(b, valueStart, 1);
      } else {
        valueEnd = sc.skipValue(b, valueStart, 1);
        if (key === 'kind') kindRaw = [valueStart, valueEnd];
        else if (key === 'apiVersion') apiVersionRaw = [valueStart, valueEnd];
      }
      i = skipWs(b, valueEnd);
      if (b[i] === 44) i = skipWs(b, i + 1);
      else if (b[i] === 125) {
        end = i + 1;
        break;
      } else throw new JsonSyntaxError(i >= b.length ? 'unexpected end of input' : 'unexpected character', i);
    }

  const stringOf = (raw: [number, number]) => (b[raw[0]] === 34 ? decodeToken(b, raw[0], raw[1]) : null);
  const kind = kindRaw === undefined ? undefined : stringOf(kindRaw);
  if (kind === null) throw new PayloadError('kind must be a string');
  const isList = kind === 'EventList' || (kind === undefined && hasItems);
  if (isList) {
    // encoding/json decodes `"items": null` (or no items) into a nil slice: an empty batch.
    if (itemsType !== ARRAY && itemsType !== NULL && !(kind === 'EventList' && !hasItems)) {
      throw new PayloadError('EventList items must be an array or null');
    }
    let apiVersion = defaultApiVersion;
    if (apiVersionRaw !== undefined) {
      apiVersion = stringOf(apiVersionRaw) ?? '';
      if (!apiVersions.has(apiVersion))
        throw new PayloadError(`EventList apiVersion must be one of ${AUDIT_API_VERSIONS.join(', ')}`);
    }
    for (const event of events) if (event.member('apiVersion') === undefined) event.apiVersion = apiVersion;
    return {
      end,
      result: {
        shape: 'EventList',
        apiVersion,
        events,
        invalid: invalid.items,
        invalidCount: invalid.count,
        received: events.length + invalid.count,
      },
    };
  }
  if (kind !== undefined && kind !== 'Event') throw new PayloadError('kind must be EventList or Event');
  const item = scanEvent(sc, b, start, 0, defaultApiVersion, table);
  if (!item.event) throw new PayloadError(`invalid audit event: ${item.reason}`);
  return {
    end,
    result: {
      shape: 'Event',
      apiVersion: defaultApiVersion,
      events: [item.event],
      invalid: [],
      invalidCount: 0,
      received: 1,
    },
  };
}

/** @internal */
export type Scanned =
  | { end: number; event: AuditEvent; reason?: undefined }
  | { end: number; event?: undefined; reason: string };

/** What the event scan does with a key: check a required string, a token, or a type. */
const AUDIT_ID = 1;
const VERB = 2;
const REQUEST_URI = 4;
const KIND = 8;
const API_VERSION = 16;
const STAGE = 32;
const LEVEL = 64;
const OTHER = 128;
const ROLES: Readonly<Record<string, number>> = {
  auditID: AUDIT_ID,
  verb: VERB,
  requestURI: REQUEST_URI,
  kind: KIND,
  apiVersion: API_VERSION,
  stage: STAGE,
  level: LEVEL,
};

/** A known field: its name (a shared literal), its role, the JSON types it may have (0: any). */
interface KnownKey {
  readonly name: string;
  /** The name's bytes after its first (which the table is indexed by). */
  readonly rest: Uint8Array;
  readonly role: number;
  readonly types: number;
}
/**
 * The Event schema's field names by length and first letter, so that a key is matched in place
 * (one or two comparisons) instead of decoded.
 */
const KNOWN_KEYS: readonly (readonly KnownKey[] | undefined)[] = (() => {
  const table: KnownKey[][] = [];
  for (const name of Object.keys(Event.shape)) {
    const slot = name.length * 128 + name.charCodeAt(0);
    const list = table[slot] ?? [];
    const rest = Uint8Array.from(name.slice(1), (c) => c.charCodeAt(0));
    list.push({ name, rest, role: ROLES[name] ?? OTHER, types: fieldTypes.get(name) ?? 0 });
    table[slot] = list;
  }
  return table;
})();
const UNKNOWN_KEY: KnownKey = { name: '', rest: new Uint8Array(0), role: OTHER, types: 0 };
/** The known fields by name, for keys written with escapes. */
const KNOWN_BY_NAME: ReadonlyMap<string, KnownKey> = new Map(
  KNOWN_KEYS.flatMap((list) => list ?? []).map((key) => [key.name, key]),
);

/** The known field whose key token (without escapes) stands from `start` (its quote) to `end`. */
function knownKey(b: Uint8Array, start: number, end: number): KnownKey | undefined {
  const length = end - start - 2;
  if (length > 64) return undefined;
  const candidates = KNOWN_KEYS[length * 128 + (b[start + 1] as number)];
  if (candidates === undefined) return undefined;
  next: for (const key of candidates) {
    const rest = key.rest;
    for (let k = 0; k < rest.length; k++) if (b[start + 2 + k] !== rest[k]) continue next;
    return key;
  }
  return undefined;
}

/** The string token at `start` if it is one of `tokens` (returned as the interned literal). */
function tokenAt<T extends string>(b: Uint8Array, start: number, end: number, tokens: readonly T[]): T | undefined {
  for (const token of tokens) {
    if (end - start === token.length + 2 && bytesEqual(b, start + 1, token)) return token;
  }
  return undefined;
}

/** A string token decoded, whether it has escapes or not. */
function decodeToken(b: Uint8Array, start: number, end: number): string {
  return stringAt(b, start, end, b.subarray(start, end).includes(92));
}

/**
 * A scanner for events: it counts the objects of a kind that carries credentials, so that
 * scanEvent can note which members may hold one and redaction reads no other body.
 *
 * @internal
 */
export function eventScanner(): ByteScanner {
  return new ByteScanner(CREDENTIAL_KINDS);
}

/**
 * Scan the object at `start` as an audit event; `end` is valid either way. This is the hot
 * loop of the receiver, so it scans members inline and decodes no string but a typed event's
 * apiVersion: the rest is decoded when a step reads it.
 *
 * @internal
 */
export function scanEvent(
  sc: ByteScanner,
  b: Uint8Array,
  start: number,
  depth: number,
  listApiVersion: string,
  table: MemberTable,
): Scanned {
  if (depth >= MAX_DEPTH) throw new JsonSyntaxError(`nesting deeper than ${MAX_DEPTH}`, start);
  const first = table.keys.length;
  let problem: string | undefined;
  // Which of the required strings were met (AUDIT_ID | VERB | REQUEST_URI).
  let required = 0;
  let stage: Stage | undefined;
  let level: Level | undefined;
  let kindOk = true;
  let typed = false;
  let apiVersion: string | undefined;
  const whitespaceBefore = sc.whitespaceRuns;
  let i = start + 1;
  if ((b[i] as number) <= 32) i = sc.skipWs(b, i);
  let end: number;
  if (b[i] === 125) end = i + 1;
  else {
    for (;;) {
      if (b[i] !== 34) throw new JsonSyntaxError(i >= b.length ? 'unexpected end of input' : 'expected a key', i);
      const keyStart = i;
      const keyEnd = sc.skipString(b, i);
      let known = sc.escaped ? undefined : knownKey(b, keyStart, keyEnd);
      let name: string;
      if (known) name = known.name;
      else {
        name = stringAt(b, keyStart, keyEnd, sc.escaped);
        // An escaped spelling of a known key is that key (JSON.parse decodes it so).
        known = KNOWN_BY_NAME.get(name) ?? UNKNOWN_KEY;
      }
      i = keyEnd;
      if ((b[i] as number) <= 32) i = sc.skipWs(b, i);
      if (b[i] !== 58) throw new JsonSyntaxError("expected ':'", i);
      let valueStart = i + 1;
      if ((b[valueStart] as number) <= 32) valueStart = sc.skipWs(b, valueStart);
      const c = b[valueStart] as number;
      // For a string, sc.escaped is now the value's.
      const sightings = sc.sightings;
      const valueEnd = c === 34 ? sc.skipString(b, valueStart) : sc.skipValue(b, valueStart, depth + 1);
      table.add(name, keyStart, valueStart, valueEnd);
      // A scanner that watches no kind cannot tell: every member may then hold one.
      if (sc.sightings !== sightings || !sc.watching) table.sightLast();
      const role = known.role;
      if (problem === undefined && role !== OTHER) {
        if (role & (AUDIT_ID | VERB | REQUEST_URI)) {
          if (c !== 34) problem = `${name} must be a string`;
          else required |= role;
        } else if (role === STAGE) {
          stage = c === 34 ? tokenAt(b, valueStart, valueEnd, STAGES) : undefined;
          if (stage === undefined)
            problem = c === 34 ? `stage must be one of ${STAGES.join(', ')}` : 'stage must be a string';
        } else if (role === LEVEL) {
          level = c === 34 ? tokenAt(b, valueStart, valueEnd, LEVELS) : undefined;
          if (level === undefined)
            problem = c === 34 ? `level must be one of ${LEVELS.join(', ')}` : 'level must be a string';
        } else if (role === KIND) {
          typed = true;
          if (c !== 34) problem = 'kind must be a string';
          else
            kindOk = sc.escaped
              ? stringAt(b, valueStart, valueEnd, true) === 'Event'
              : valueEnd - valueStart === 7 && bytesEqual(b, valueStart, '"Event"');
        } else {
          typed = true;
          if (c !== 34) problem = 'apiVersion must be a string';
          else
            apiVersion =
              (!sc.escaped && tokenAt(b, valueStart, valueEnd, AUDIT_API_VERSIONS)) ||
              stringAt(b, valueStart, valueEnd, sc.escaped);
        }
      } else if (problem === undefined && known.types !== 0 && !(typeOf(c) & known.types))
        problem = `${name} must be ${typeNames[known.types]}`;
      i = valueEnd;
      if ((b[i] as number) <= 32) i = sc.skipWs(b, i);
      const d = b[i];
      if (d === 44) {
        i = i + 1;
        if ((b[i] as number) <= 32) i = sc.skipWs(b, i);
      } else if (d === 125) {
        end = i + 1;
        break;
      } else throw new JsonSyntaxError(i >= b.length ? 'unexpected end of input' : 'unexpected character', i);
    }
  }
  const compact = sc.whitespaceRuns === whitespaceBefore;
  if (problem !== undefined) return { end, reason: problem };
  if (!(required & AUDIT_ID)) return { end, reason: 'missing auditID' };
  if (stage === undefined) return { end, reason: 'missing stage' };
  if (level === undefined) return { end, reason: 'missing level' };
  if (!(required & VERB)) return { end, reason: 'missing verb' };
  if (!(required & REQUEST_URI)) return { end, reason: 'missing requestURI' };
  if (!kindOk) return { end, reason: 'kind must be Event' };
  const count = table.keys.length - first;
  const event = new AuditEvent(
    b,
    start,
    end,
    table,
    first,
    count,
    compact,
    apiVersion ?? listApiVersion,
    typed,
    stage,
    level,
  );
  return { end, event };
}

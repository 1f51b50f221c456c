/**
 * @module
 * Turn a webhook body into audit events. The body is an `EventList` (what the API server sends),
 * a single `Event`, or a JSON array of events. A body that is not JSON or none of those shapes
 * is a {@link PayloadError}; an item that is not a valid event does not fail the batch, it comes
 * back in `invalid` with the reason, because the API server re-sends a rejected batch five times.
 */
import { PayloadError } from './errors';
import { AuditEvent } from './event';
import { decodeString, JsonScanner, JsonSyntaxError, MAX_DEPTH, type Member, skipWs } from './internal/json-scan';
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
  /** The item `s[start, end)` at `index`. */
  add(index: number, reason: string, s: string, start: number, end: number): void {
    if (this.count++ < this.max) this.items.push({ index, reason, raw: s.slice(start, end) });
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
 * Parse a webhook body (or any text holding an EventList, an Event or an array of events).
 *
 * @throws {PayloadError} when the text is not JSON or not one of the three shapes.
 * @example
 * const { events, invalid } = parsePayload(await request.text());
 * for (const event of events) console.log(event.auditID, event.verb, event.requestURI);
 */
export function parsePayload(text: string, options: ParseOptions = {}): ParsedPayload {
  const defaultApiVersion = options.defaultApiVersion ?? DEFAULT_API_VERSION;
  const maxInvalidItems = options.maxInvalidItems ?? Number.POSITIVE_INFINITY;
  try {
    // RFC 8259 §8.1: a parser may ignore a leading byte order mark.
    const s = text;
    const sc = JsonScanner.forDocument(s);
    let i = skipWs(s, s.charCodeAt(0) === 0xfeff ? 1 : 0);
    const c = s.charCodeAt(i);
    let result: ParsedPayload;
    if (c === 91) {
      const events: AuditEvent[] = [];
      const invalid = new InvalidItems(maxInvalidItems);
      i = scanItems(sc, s, i, 0, defaultApiVersion, events, invalid);
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
      const single = looksLikeEvent(s, i) ? scanEvent(sc, s, i, 0, defaultApiVersion) : undefined;
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
        const scanned = scanTopObject(sc, s, i, defaultApiVersion, maxInvalidItems);
        i = scanned.end;
        result = scanned.result;
      }
    } else if (i >= s.length) {
      throw new PayloadError('body is empty');
    } else {
      sc.skipValue(s, i);
      throw new PayloadError('body must be an EventList, an Event or an array of events');
    }
    if (skipWs(s, i) < s.length) throw new JsonSyntaxError('unexpected data after the JSON value', skipWs(s, i));
    return result;
  } catch (error) {
    if (error instanceof JsonSyntaxError) throw new PayloadError(`body is not valid JSON: ${error.message}`);
    throw error;
  }
}

/** True when the object at `start` opens like an event rather than a list: its first key is not `items`, `metadata` or `apiVersion`, and if it is `kind`, the kind is `Event`. */
function looksLikeEvent(s: string, start: number): boolean {
  const i = skipWs(s, start + 1);
  if (s.charCodeAt(i) !== 34) return false;
  for (const key of ['"items"', '"metadata"', '"apiVersion"']) if (s.startsWith(key, i)) return false;
  if (!s.startsWith('"kind"', i)) return true;
  const colon = skipWs(s, i + 6);
  return s.charCodeAt(colon) === 58 && s.startsWith('"Event"', skipWs(s, colon + 1));
}

function scanItems(
  sc: JsonScanner,
  s: string,
  i: number,
  depth: number,
  listApiVersion: string,
  events: AuditEvent[],
  invalid: InvalidItems,
): number {
  i = skipWs(s, i + 1);
  if (s.charCodeAt(i) === 93) return i + 1;
  for (let index = 0; ; index++) {
    const start = i;
    if (s.charCodeAt(i) === 123) {
      const item = scanEvent(sc, s, i, depth + 1, listApiVersion);
      i = item.end;
      if (item.event) events.push(item.event);
      else invalid.add(index, item.reason, s, start, i);
    } else {
      i = sc.skipValue(s, i, depth + 1);
      invalid.add(index, 'not an object', s, start, i);
    }
    i = skipWs(s, i);
    const c = s.charCodeAt(i);
    if (c === 44) i = skipWs(s, i + 1);
    else if (c === 93) return i + 1;
    else throw new JsonSyntaxError(i >= s.length ? 'unexpected end of input' : 'unexpected character', i);
  }
}

function scanTopObject(
  sc: JsonScanner,
  s: string,
  start: number,
  defaultApiVersion: string,
  maxInvalidItems: number,
): { end: number; result: ParsedPayload } {
  const events: AuditEvent[] = [];
  const invalid = new InvalidItems(maxInvalidItems);
  let kindRaw: string | undefined;
  let apiVersionRaw: string | undefined;
  let hasItems = false;
  let itemsType = 0;
  // Items are scanned before the list's apiVersion may be known (keys can come in any order), so
  // they get a placeholder that is resolved below.
  const end = sc.scanObject(s, start, 0, (key, _keyStart, valueStart) => {
    const c = s.charCodeAt(valueStart);
    if (key === 'items') {
      hasItems = true;
      itemsType = typeOf(c);
      if (c === 91) {
        events.length = 0;
        invalid.clear();
        return scanItems(sc, s, valueStart, 1, '', events, invalid);
      }
      return -1;
    }
    if (key === 'kind' || key === 'apiVersion') {
      const valueEnd = sc.skipValue(s, valueStart, 1);
      const raw = s.slice(valueStart, valueEnd);
      if (key === 'kind') kindRaw = raw;
      else apiVersionRaw = raw;
      return valueEnd;
    }
    return -1;
  });

  const kind = kindRaw === undefined ? undefined : kindRaw.charCodeAt(0) === 34 ? decodeString(kindRaw) : null;
  if (kind === null) throw new PayloadError('kind must be a string');
  const isList = kind === 'EventList' || (kind === undefined && hasItems);
  if (isList) {
    // encoding/json decodes `"items": null` (or no items) into a nil slice: an empty batch.
    if (itemsType !== ARRAY && itemsType !== NULL && !(kind === 'EventList' && !hasItems)) {
      throw new PayloadError('EventList items must be an array or null');
    }
    let apiVersion = defaultApiVersion;
    if (apiVersionRaw !== undefined) {
      apiVersion = apiVersionRaw.charCodeAt(0) === 34 ? decodeString(apiVersionRaw) : '';
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
  const item = scanEvent(sc, s, start, 0, defaultApiVersion);
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

type Scanned =
  | { end: number; event: AuditEvent; reason?: undefined }
  | { end: number; event?: undefined; reason: string };

/** The Event schema's field names by length, so a key can be matched in place instead of sliced out. */
const KEYS_BY_LENGTH: readonly (readonly string[])[] = (() => {
  const names = Object.keys(Event.shape);
  const byLength: string[][] = [];
  for (const name of names) {
    const sameLength = byLength[name.length] ?? [];
    sameLength.push(name);
    byLength[name.length] = sameLength;
  }
  return byLength;
})();

/** The unescaped key token from `start` (its quote) to `end`: a shared literal when it is a known field. */
function knownKey(s: string, start: number, end: number): string {
  const candidates = KEYS_BY_LENGTH[end - start - 2];
  if (candidates) for (const name of candidates) if (s.startsWith(name, start + 1)) return name;
  return s.slice(start + 1, end - 1);
}

/** The string token at `start` if it is one of `tokens` (returned as the interned literal). */
function tokenAt<T extends string>(s: string, start: number, end: number, tokens: readonly T[]): T | undefined {
  for (const token of tokens) {
    if (end - start === token.length + 2 && s.startsWith(token, start + 1)) return token;
  }
  return undefined;
}

/**
 * Scan the object at `start` as an audit event; `end` is valid either way. This is the hot
 * loop of the receiver, so it scans members inline and decodes only the fields it must check.
 */
function scanEvent(sc: JsonScanner, s: string, start: number, depth: number, listApiVersion: string): Scanned {
  if (depth >= MAX_DEPTH) throw new JsonSyntaxError(`nesting deeper than ${MAX_DEPTH}`, start);
  const members: Member[] = [];
  let problem: string | undefined;
  let auditID: string | undefined;
  let stage: Stage | undefined;
  let level: Level | undefined;
  let verb: string | undefined;
  let requestURI: string | undefined;
  let kind: string | undefined;
  let apiVersion: string | undefined;
  const whitespaceBefore = sc.whitespaceRuns;
  let i = start + 1;
  if (s.charCodeAt(i) <= 32) i = sc.skipWs(s, i);
  let end: number;
  if (s.charCodeAt(i) === 125) end = i + 1;
  else {
    for (;;) {
      if (s.charCodeAt(i) !== 34)
        throw new JsonSyntaxError(i >= s.length ? 'unexpected end of input' : 'expected a key', i);
      const keyStart = i;
      const keyEnd = sc.skipString(s, i);
      const key = sc.escaped ? sc.lastString(s, keyStart, keyEnd) : knownKey(s, keyStart, keyEnd);
      i = keyEnd;
      if (s.charCodeAt(i) <= 32) i = sc.skipWs(s, i);
      if (s.charCodeAt(i) !== 58) throw new JsonSyntaxError("expected ':'", i);
      let valueStart = i + 1;
      if (s.charCodeAt(valueStart) <= 32) valueStart = sc.skipWs(s, valueStart);
      const c = s.charCodeAt(valueStart);
      // For a string, sc.escaped is now the value's: lastString below reads it.
      const valueEnd = c === 34 ? sc.skipString(s, valueStart) : sc.skipValue(s, valueStart, depth + 1);
      members.push({ key, keyStart, valueStart, valueEnd });
      if (problem === undefined) {
        switch (key) {
          case 'auditID':
          case 'verb':
          case 'requestURI':
          case 'kind':
          case 'apiVersion': {
            if (c !== 34) problem = `${key} must be a string`;
            else {
              const value = sc.lastString(s, valueStart, valueEnd);
              if (key === 'auditID') auditID = value;
              else if (key === 'verb') verb = value;
              else if (key === 'requestURI') requestURI = value;
              else if (key === 'kind') kind = value;
              else apiVersion = value;
            }
            break;
          }
          case 'stage':
            stage = c === 34 ? tokenAt(s, valueStart, valueEnd, STAGES) : undefined;
            if (stage === undefined)
              problem = c === 34 ? `stage must be one of ${STAGES.join(', ')}` : 'stage must be a string';
            break;
          case 'level':
            level = c === 34 ? tokenAt(s, valueStart, valueEnd, LEVELS) : undefined;
            if (level === undefined)
              problem = c === 34 ? `level must be one of ${LEVELS.join(', ')}` : 'level must be a string';
            break;
          default: {
            const expected = fieldTypes.get(key);
            if (expected !== undefined && !(typeOf(c) & expected)) problem = `${key} must be ${typeNames[expected]}`;
          }
        }
      }
      i = valueEnd;
      if (s.charCodeAt(i) <= 32) i = sc.skipWs(s, i);
      const d = s.charCodeAt(i);
      if (d === 44) {
        i = i + 1;
        if (s.charCodeAt(i) <= 32) i = sc.skipWs(s, i);
      } else if (d === 125) {
        end = i + 1;
        break;
      } else throw new JsonSyntaxError(i >= s.length ? 'unexpected end of input' : 'unexpected character', i);
    }
  }
  const compact = sc.whitespaceRuns === whitespaceBefore;
  if (problem !== undefined) return { end, reason: problem };
  if (auditID === undefined) return { end, reason: 'missing auditID' };
  if (stage === undefined) return { end, reason: 'missing stage' };
  if (level === undefined) return { end, reason: 'missing level' };
  if (verb === undefined) return { end, reason: 'missing verb' };
  if (requestURI === undefined) return { end, reason: 'missing requestURI' };
  if (kind !== undefined && kind !== 'Event') return { end, reason: 'kind must be Event' };
  const typed = kind !== undefined || apiVersion !== undefined;
  const event = new AuditEvent(
    s,
    start,
    end,
    members,
    compact,
    apiVersion ?? listApiVersion,
    typed,
    auditID,
    stage,
    level,
    verb,
    requestURI,
  );
  return { end, event };
}

/**
 * @module
 * Turn a webhook body into audit events. The body is an `EventList` (what the API server sends),
 * a single `Event`, or a JSON array of events. A body that is not JSON or none of those shapes
 * is a {@link PayloadError}; an item that is not a valid event does not fail the batch, it comes
 * back in `invalid` with the reason, because the API server re-sends a rejected batch five times.
 */
import { PayloadError } from './errors';
import { AuditEvent } from './event';
import {
  decodeString,
  JsonSyntaxError,
  type Member,
  resetWhitespace,
  scanObject,
  skipValue,
  skipWs,
} from './internal/json-scan';
import { AUDIT_API_VERSIONS, LEVELS, type Level, STAGES, type Stage } from './schema';

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

export interface ParsedPayload {
  readonly shape: 'EventList' | 'Event' | 'array';
  /** The list's apiVersion (or `audit.k8s.io/v1`): what items without their own get. */
  readonly apiVersion: string;
  /** Valid events in the order received. */
  readonly events: AuditEvent[];
  readonly invalid: InvalidItem[];
  /** Number of items in the body: `events.length + invalid.length`. */
  readonly received: number;
}

export interface ParseOptions {
  /** apiVersion for items of a bare array or a list without one. @default 'audit.k8s.io/v1' */
  defaultApiVersion?: string;
}

const levels: ReadonlySet<string> = new Set(LEVELS);
const stages: ReadonlySet<string> = new Set(STAGES);
const apiVersions: ReadonlySet<string> = new Set(AUDIT_API_VERSIONS);

/** Expected JSON types of known optional fields, by their first character. */
const OBJECT = 1;
const STRING = 2;
const ARRAY = 4;
const NULL = 8;
const fieldTypes: ReadonlyMap<string, number> = new Map(
  Object.entries({
    kind: STRING,
    apiVersion: STRING,
    user: OBJECT,
    impersonatedUser: OBJECT | NULL,
    authenticationMetadata: OBJECT | NULL,
    sourceIPs: ARRAY | NULL,
    userAgent: STRING,
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
  try {
    // RFC 8259 §8.1: a parser may ignore a leading byte order mark.
    const s = text;
    let i = skipWs(s, s.charCodeAt(0) === 0xfeff ? 1 : 0);
    const c = s.charCodeAt(i);
    let result: ParsedPayload;
    if (c === 91) {
      const events: AuditEvent[] = [];
      const invalid: InvalidItem[] = [];
      i = scanItems(s, i, 0, defaultApiVersion, events, invalid);
      result = {
        shape: 'array',
        apiVersion: defaultApiVersion,
        events,
        invalid,
        received: events.length + invalid.length,
      };
    } else if (c === 123) {
      const scanned = scanTopObject(s, i, defaultApiVersion);
      i = scanned.end;
      result = scanned.result;
    } else if (i >= s.length) {
      throw new PayloadError('body is empty');
    } else {
      skipValue(s, i);
      throw new PayloadError('body must be an EventList, an Event or an array of events');
    }
    if (skipWs(s, i) < s.length) throw new JsonSyntaxError('unexpected data after the JSON value', skipWs(s, i));
    return result;
  } catch (error) {
    if (error instanceof JsonSyntaxError) throw new PayloadError(`body is not valid JSON: ${error.message}`);
    throw error;
  }
}

function scanItems(
  s: string,
  i: number,
  depth: number,
  listApiVersion: string,
  events: AuditEvent[],
  invalid: InvalidItem[],
): number {
  i = skipWs(s, i + 1);
  if (s.charCodeAt(i) === 93) return i + 1;
  for (let index = 0; ; index++) {
    const start = i;
    if (s.charCodeAt(i) === 123) {
      const item = scanEvent(s, i, depth + 1, listApiVersion);
      i = item.end;
      if (item.event) events.push(item.event);
      else invalid.push({ index, reason: item.reason, raw: s.slice(start, i) });
    } else {
      i = skipValue(s, i, depth + 1);
      invalid.push({ index, reason: 'not an object', raw: s.slice(start, i) });
    }
    i = skipWs(s, i);
    const c = s.charCodeAt(i);
    if (c === 44) i = skipWs(s, i + 1);
    else if (c === 93) return i + 1;
    else throw new JsonSyntaxError(i >= s.length ? 'unexpected end of input' : 'unexpected character', i);
  }
}

function scanTopObject(s: string, start: number, defaultApiVersion: string): { end: number; result: ParsedPayload } {
  const events: AuditEvent[] = [];
  const invalid: InvalidItem[] = [];
  let kindRaw: string | undefined;
  let apiVersionRaw: string | undefined;
  let hasItems = false;
  let itemsType = 0;
  // Items are scanned before the list's apiVersion may be known (keys can come in any order), so
  // they get a placeholder that is resolved below.
  const end = scanObject(s, start, 0, (key, _keyStart, valueStart) => {
    const c = s.charCodeAt(valueStart);
    if (key === 'items') {
      hasItems = true;
      itemsType = typeOf(c);
      if (c === 91) {
        events.length = 0;
        invalid.length = 0;
        return scanItems(s, valueStart, 1, '', events, invalid);
      }
      return -1;
    }
    if (key === 'kind' || key === 'apiVersion') {
      const valueEnd = skipValue(s, valueStart, 1);
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
    if (itemsType !== ARRAY) throw new PayloadError('EventList items must be an array');
    let apiVersion = defaultApiVersion;
    if (apiVersionRaw !== undefined) {
      apiVersion = apiVersionRaw.charCodeAt(0) === 34 ? decodeString(apiVersionRaw) : '';
      if (!apiVersions.has(apiVersion))
        throw new PayloadError(`EventList apiVersion must be one of ${AUDIT_API_VERSIONS.join(', ')}`);
    }
    for (const event of events) if (event.member('apiVersion') === undefined) event.apiVersion = apiVersion;
    return {
      end,
      result: { shape: 'EventList', apiVersion, events, invalid, received: events.length + invalid.length },
    };
  }
  if (kind !== undefined && kind !== 'Event') throw new PayloadError('kind must be EventList or Event');
  const item = scanEvent(s, start, 0, defaultApiVersion);
  if (!item.event) throw new PayloadError(`invalid audit event: ${item.reason}`);
  return { end, result: { shape: 'Event', apiVersion: defaultApiVersion, events: [item.event], invalid, received: 1 } };
}

type Scanned =
  | { end: number; event: AuditEvent; reason?: undefined }
  | { end: number; event?: undefined; reason: string };

/** Scan the object at `start` as an audit event; `end` is valid either way. */
function scanEvent(s: string, start: number, depth: number, listApiVersion: string): Scanned {
  const members: Member[] = [];
  let problem: string | undefined;
  resetWhitespace();
  const end = scanObject(s, start, depth, (key, keyStart, valueStart) => {
    const valueEnd = skipValue(s, valueStart, depth + 1);
    members.push({ key, keyStart, valueStart, valueEnd });
    if (problem === undefined) {
      const expected = fieldTypes.get(key);
      if (expected !== undefined && !(typeOf(s.charCodeAt(valueStart)) & expected))
        problem = `${key} must be ${typeNames[expected]}`;
    }
    return valueEnd;
  });
  const compact = !resetWhitespace();
  if (problem !== undefined) return { end, reason: problem };

  let auditID: string | undefined;
  let stage: string | undefined;
  let level: string | undefined;
  let verb: string | undefined;
  let requestURI: string | undefined;
  let kind: string | undefined;
  let apiVersion: string | undefined;
  for (const m of members) {
    switch (m.key) {
      case 'auditID':
      case 'stage':
      case 'level':
      case 'verb':
      case 'requestURI':
      case 'kind':
      case 'apiVersion': {
        if (s.charCodeAt(m.valueStart) !== 34) return { end, reason: `${m.key} must be a string` };
        const value = decodeString(s.slice(m.valueStart, m.valueEnd));
        if (m.key === 'auditID') auditID = value;
        else if (m.key === 'stage') stage = value;
        else if (m.key === 'level') level = value;
        else if (m.key === 'verb') verb = value;
        else if (m.key === 'requestURI') requestURI = value;
        else if (m.key === 'kind') kind = value;
        else apiVersion = value;
      }
    }
  }
  if (auditID === undefined) return { end, reason: 'missing auditID' };
  if (stage === undefined) return { end, reason: 'missing stage' };
  if (level === undefined) return { end, reason: 'missing level' };
  if (verb === undefined) return { end, reason: 'missing verb' };
  if (requestURI === undefined) return { end, reason: 'missing requestURI' };
  if (!stages.has(stage)) return { end, reason: `stage must be one of ${STAGES.join(', ')}` };
  if (!levels.has(level)) return { end, reason: `level must be one of ${LEVELS.join(', ')}` };
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
    stage as Stage,
    level as Level,
    verb,
    requestURI,
  );
  return { end, event };
}

/**
 * @module
 * Keeps lines under a byte cap (Loki's default line limit is 256 KiB; larger lines are rejected
 * downstream). As the API server's truncate backend (k8s.io/apiserver
 * plugin/pkg/audit/truncate/truncate.go) does, an event over the cap (its size counted with the
 * encoder's trailing newline, `size > max`) at level Request or above loses its bodies and is
 * marked `audit.k8s.io/truncated`. Where the API server then drops an event still too large, it is
 * cut down instead, and marked `kube-audit/cut` beside: who (user with groups, impersonatedUser),
 * from where (sourceIPs, userAgent), what (auditID, stage, level, verb, requestURI, objectRef,
 * responseStatus.code, timestamps) and the authorization decision are kept; long strings are
 * shortened (requestURI first) with a marker, long lists lose their tail; the line never exceeds
 * the cap.
 */
import type { AuditEvent } from './event';
import { decodeString, elementsOf, membersOf } from './internal/json-scan';
import { withStrings } from './internal/raw-edit';

/** The API server's own marker of an event whose bodies were dropped to fit a size limit. */
export const TRUNCATED_ANNOTATION = 'audit.k8s.io/truncated';
/** Our marker of an event cut down to fit, beyond what the API server's truncation does. */
export const CUT_ANNOTATION = 'kube-audit/cut';
/** The smallest cap under which every event can be cut to fit (0 aside: no cap). */
export const MIN_MAX_EVENT_BYTES = 512;

/** UTF-8 length of a string, without Buffer or TextEncoder allocations. */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 4 bytes for 2 code units
      i++;
    } else n += 2;
  }
  return n;
}

/** True when the line's bytes and its newline are longer than `max` (`size > max`); never with max 0. */
export function exceeds(line: Uint8Array, max: number): boolean {
  return max > 0 && line.length + 1 > max;
}

/** Remove the bodies and mark the event, as the API server's `truncate` does (bodies or none). */
export function dropBodies(event: AuditEvent): void {
  event.set('requestObject', undefined);
  event.set('responseObject', undefined);
  event.set('annotations', withStrings(event.compactRaw('annotations'), { [TRUNCATED_ANNOTATION]: 'true' }));
}

/** A string of the cut event, shortened in place. */
interface Text {
  s: string;
}
/** A list of strings; `cut` elements were dropped from its end. */
interface List {
  items: Text[];
  cut: number;
}
interface Obj {
  entries: [key: string, value: Value][];
}
type Value = Text | List | Obj | { raw: string };

/** Fields kept as strings, and the members kept of the objects kept. */
const STRINGS = new Set([
  'auditID',
  'stage',
  'level',
  'verb',
  'requestURI',
  'userAgent',
  'requestReceivedTimestamp',
  'stageTimestamp',
  'timestamp',
]);
const USER_KEYS = ['username', 'uid', 'groups'];
const OBJECT_REF_KEYS = [
  'resource',
  'namespace',
  'name',
  'uid',
  'apiGroup',
  'apiVersion',
  'resourceVersion',
  'subresource',
];
/** Annotations kept: the authorization decision and reason, and our own. */
const KEPT_ANNOTATION_PREFIXES = ['authorization.k8s.io/', 'kube-audit/'];
const MAX_KEPT_ANNOTATIONS = 8;
/** Annotation keys longer than this are no Kubernetes annotation (prefix 253 + name 63). */
const MAX_ANNOTATION_KEY_LENGTH = 317;
/** What a shortened string keeps at first, before strings are cut to their marker alone. */
const KEEP_BYTES = 128;
/** Whole fields given up, in this order, when a cap is so small that even the markers do not fit. */
const DROP_ORDER = [
  'userAgent',
  'sourceIPs',
  'annotations', // but the markers
  'impersonatedUser',
  'responseStatus',
  'objectRef',
  'timestamp',
  'requestReceivedTimestamp',
  'stageTimestamp',
  'user',
];

/**
 * Cut an event down to fit `max` bytes with its newline (for `max` ≥ {@link MIN_MAX_EVENT_BYTES}),
 * and return its line. `prefix` is the line's opening (`{"kind":"Event","apiVersion":…`).
 */
export function cutDown(event: AuditEvent, prefix: string, max: number): string {
  const entries: [string, Value][] = [];
  const seen = new Set<string>();
  for (const m of event.members) {
    if (seen.has(m.key)) continue; // the last of duplicate keys counts, as in JSON.parse
    const raw = event.compactRaw(m.key);
    seen.add(m.key);
    if (raw === undefined) continue;
    const value = keptValue(m.key, raw);
    if (value !== undefined) entries.push([m.key, value]);
  }
  const annotations = entries.find(([key]) => key === 'annotations')?.[1] as Obj | undefined;
  const markers: [string, Value][] = [
    [TRUNCATED_ANNOTATION, { s: 'true' }],
    [CUT_ANNOTATION, { s: 'true' }],
  ];
  if (annotations) annotations.entries.push(...markers);
  else {
    for (const [key, value] of event.added()) if (key === 'annotations') entries.push([key, annotationsOf(value)]);
    const added = entries.find(([key]) => key === 'annotations')?.[1] as Obj | undefined;
    if (added) added.entries.push(...markers);
    else entries.push(['annotations', { entries: markers }]);
  }

  let line = render(prefix, entries);
  let over = utf8Length(line) + 1 - max;
  for (const floor of [KEEP_BYTES, 0]) {
    if (over <= 0) break;
    for (const text of textsByPriority(entries)) {
      if (over <= 0) break;
      const before = jsonBytes(text.s);
      const target = Math.max(floor, before - over);
      if (target >= before) continue;
      const shorter = shorten(text.s, target);
      const after = jsonBytes(shorter);
      if (after >= before) continue; // a short string: its marker would be longer
      text.s = shorter;
      over -= before - after;
    }
    line = render(prefix, entries);
    over = utf8Length(line) + 1 - max;
    if (over > 0) {
      shareOut(listsBySize(entries), over);
      line = render(prefix, entries);
      over = utf8Length(line) + 1 - max;
    }
    for (const list of listsBySize(entries)) {
      while (over > 0 && list.items.length > 0) {
        const item = list.items.pop() as Text;
        list.cut++;
        over -= jsonBytes(item.s) + 1;
      }
      line = render(prefix, entries);
      over = utf8Length(line) + 1 - max;
    }
  }
  for (const key of DROP_ORDER) {
    if (over <= 0) break;
    const at = entries.findIndex(([k]) => k === key);
    if (at === -1) continue;
    if (key === 'annotations') {
      const kept = entries[at]?.[1] as Obj;
      kept.entries = kept.entries.filter(([k]) => k === TRUNCATED_ANNOTATION || k === CUT_ANNOTATION);
    } else entries.splice(at, 1);
    line = render(prefix, entries);
    over = utf8Length(line) + 1 - max;
  }
  // The event says what its line says, for whoever reads the events written.
  const kept = new Map(entries.map(([key, value]) => [key, renderValue(value)]));
  for (const m of event.members) event.set(m.key, kept.get(m.key));
  for (const [key] of [...event.added()]) event.set(key, kept.get(key));
  for (const [key, raw] of kept) if (!event.has(key)) event.set(key, raw);
  return line;
}

/** The part of a received field that a cut event keeps, or undefined to drop it. */
function keptValue(key: string, raw: string): Value | undefined {
  if (STRINGS.has(key)) return raw.charCodeAt(0) === 34 ? { s: decodeString(raw) } : undefined;
  if (key === 'user' || key === 'impersonatedUser') return objectOf(raw, USER_KEYS);
  if (key === 'objectRef') return objectOf(raw, OBJECT_REF_KEYS);
  if (key === 'sourceIPs') return listOf(raw);
  if (key === 'responseStatus') {
    if (raw.charCodeAt(0) !== 123) return undefined;
    let value: string | undefined;
    for (const m of membersOf(raw, 0)) if (m.key === 'code') value = raw.slice(m.valueStart, m.valueEnd);
    return value && /^-?\d{1,10}$/.test(value) ? { entries: [['code', { raw: value }]] } : undefined;
  }
  if (key === 'annotations') return annotationsOf(raw);
  return undefined;
}

function objectOf(raw: string, keys: readonly string[]): Obj | undefined {
  if (raw.charCodeAt(0) !== 123) return undefined;
  const found = new Map<string, Value>();
  for (const m of membersOf(raw, 0)) {
    if (!keys.includes(m.key)) continue;
    const value = raw.slice(m.valueStart, m.valueEnd);
    if (value.charCodeAt(0) === 34) found.set(m.key, { s: decodeString(value) });
    else if (value.charCodeAt(0) === 91) found.set(m.key, listOf(value));
  }
  return { entries: keys.flatMap((key) => (found.has(key) ? [[key, found.get(key) as Value]] : [])) };
}

function listOf(raw: string): List {
  const items: Text[] = [];
  if (raw.charCodeAt(0) === 91) {
    for (const [start, end] of elementsOf(raw, 0))
      if (raw.charCodeAt(start) === 34) items.push({ s: decodeString(raw.slice(start, end)) });
  }
  return { items, cut: 0 };
}

function annotationsOf(raw: string): Obj {
  const entries: [string, Value][] = [];
  if (raw.charCodeAt(0) === 123) {
    for (const m of membersOf(raw, 0)) {
      if (entries.length >= MAX_KEPT_ANNOTATIONS) break;
      if (m.key.length > MAX_ANNOTATION_KEY_LENGTH) continue;
      if (m.key === TRUNCATED_ANNOTATION || m.key === CUT_ANNOTATION) continue;
      if (!KEPT_ANNOTATION_PREFIXES.some((prefix) => m.key.startsWith(prefix))) continue;
      const value = raw.slice(m.valueStart, m.valueEnd);
      if (value.charCodeAt(0) === 34) entries.push([m.key, { s: decodeString(value) }]);
    }
  }
  return { entries };
}

/** Strings in the order they are shortened: requestURI first, the timestamps last. */
function textsByPriority(entries: readonly [string, Value][]): Text[] {
  const order = [
    'requestURI',
    'userAgent',
    'annotations',
    'objectRef',
    'impersonatedUser',
    'user',
    'sourceIPs',
    'auditID',
    'verb',
    'timestamp',
    'requestReceivedTimestamp',
    'stageTimestamp',
  ];
  const texts: Text[] = [];
  for (const key of order) {
    const value = entries.find(([k]) => k === key)?.[1];
    if (value) collectTexts(value, key === 'annotations', texts);
  }
  return texts;
}

function collectTexts(value: Value, annotations: boolean, into: Text[]): void {
  if ('s' in value) into.push(value);
  else if ('items' in value) into.push(...value.items);
  else if ('entries' in value)
    for (const [key, v] of value.entries) {
      if (annotations && (key === TRUNCATED_ANNOTATION || key === CUT_ANNOTATION)) continue;
      collectTexts(v, false, into);
    }
}

/**
 * Shorten lists by `over` bytes, sharing the room left fairly: each list keeps its first items up
 * to an equal share of it, and a short list's unused share goes to the others.
 */
function shareOut(lists: List[], over: number): void {
  const costs = lists.map((list) => list.items.map((item) => jsonBytes(item.s) + 1));
  const sizes = costs.map((c) => c.reduce((a, b) => a + b, 0));
  const markerBytes = 32; // `"[...N more cut]",` for each list that loses items
  let room = Math.max(0, sizes.reduce((a, b) => a + b, 0) - over - markerBytes * lists.length);
  const order = lists.map((_, i) => i).sort((a, b) => (sizes[a] as number) - (sizes[b] as number));
  order.forEach((index, rank) => {
    const allowance = Math.min(sizes[index] as number, Math.floor(room / (order.length - rank)));
    room -= allowance;
    const list = lists[index] as List;
    const cost = costs[index] as number[];
    let used = 0;
    let keep = 0;
    while (keep < cost.length && used + (cost[keep] as number) <= allowance) used += cost[keep++] as number;
    list.cut += list.items.length - keep;
    list.items.length = keep;
  });
}

/** The lists of the cut event, longest first. */
function listsBySize(entries: readonly [string, Value][]): List[] {
  const lists: List[] = [];
  const visit = (value: Value) => {
    if ('items' in value) lists.push(value);
    else if ('entries' in value) for (const [, v] of value.entries) visit(v);
  };
  for (const [, value] of entries) visit(value);
  return lists.sort((a, b) => b.items.length - a.items.length);
}

function render(prefix: string, entries: readonly [string, Value][]): string {
  let line = prefix;
  for (const [key, value] of entries) line += `,${JSON.stringify(key)}:${renderValue(value)}`;
  return `${line}}`;
}

function renderValue(value: Value): string {
  if ('s' in value) return JSON.stringify(value.s);
  if ('raw' in value) return value.raw;
  if ('items' in value) {
    const items = value.items.map((item) => JSON.stringify(item.s));
    if (value.cut > 0) items.push(JSON.stringify(`[...${value.cut} more cut]`));
    return `[${items.join(',')}]`;
  }
  return `{${value.entries.map(([key, v]) => `${JSON.stringify(key)}:${renderValue(v)}`).join(',')}}`;
}

/** Bytes of a string written as JSON, quotes included. */
function jsonBytes(s: string): number {
  return utf8Length(JSON.stringify(s));
}

/** Bytes of one character (or surrogate pair) at `i` written inside a JSON string, and its width. */
function charCost(s: string, i: number): [bytes: number, width: number] {
  const c = s.charCodeAt(i);
  if (c === 0x22 || c === 0x5c) return [2, 1];
  if (c < 0x20) return [c === 8 || c === 9 || c === 10 || c === 12 || c === 13 ? 2 : 6, 1];
  if (c < 0x80) return [1, 1];
  if (c < 0x800) return [2, 1];
  if (c >= 0xd800 && c <= 0xdfff) {
    if (c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) return [4, 2];
    return [6, 1]; // a lone surrogate: JSON.stringify writes \udXXX
  }
  return [3, 1];
}

/**
 * The start of `s` and a marker saying how many bytes were cut, in at most `budget` bytes of JSON
 * (quotes included); the marker alone when even that does not fit.
 */
function shorten(s: string, budget: number): string {
  const total = utf8Length(s);
  const marker = `[...${total} bytes cut]`;
  let room = budget - 2 - marker.length; // the digits of `total` bound those of the bytes cut
  let i = 0;
  while (i < s.length) {
    const [bytes, width] = charCost(s, i);
    if (bytes > room) break;
    room -= bytes;
    i += width;
  }
  const kept = s.slice(0, i);
  return `${kept}[...${total - utf8Length(kept)} bytes cut]`;
}

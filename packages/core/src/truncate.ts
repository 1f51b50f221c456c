/**
 * @module
 * Keeps lines under a byte cap (Loki's default line limit is 256 KiB; larger lines are rejected
 * downstream). Like the API server's truncate backend, the bodies go first and the event is
 * marked `audit.k8s.io/truncated`; unlike it, an event still too long is cut down to the fields
 * that say who did what, instead of being dropped.
 */
import type { AuditEvent } from './event';
import { memberRaw, withStrings } from './internal/raw-edit';

/** The API server's own marker of an event whose bodies were dropped to fit a size limit. */
export const TRUNCATED_ANNOTATION = 'audit.k8s.io/truncated';
/** Fields kept when an event must be cut down, beside `user.username` and `responseStatus.code`. */
const KEPT = new Set([
  'auditID',
  'stage',
  'level',
  'verb',
  'requestURI',
  'objectRef',
  'requestReceivedTimestamp',
  'stageTimestamp',
]);

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

/** True when `line` is longer than `max` bytes; cheap for the common short line. */
export function exceeds(line: string, max: number): boolean {
  if (max <= 0 || line.length * 3 <= max) return false;
  return line.length > max || utf8Length(line) > max;
}

/** Remove the bodies and mark the event; false when it had no bodies to remove. */
export function dropBodies(event: AuditEvent): boolean {
  if (!event.has('requestObject') && !event.has('responseObject')) return false;
  event.set('requestObject', undefined);
  event.set('responseObject', undefined);
  event.set('annotations', withStrings(event.compactRaw('annotations'), { [TRUNCATED_ANNOTATION]: 'true' }));
  return true;
}

/** Reduce the event to who did what to which object, and when. `keep` lists annotations to keep. */
export function cutDown(event: AuditEvent, keep: Readonly<Record<string, string>>): void {
  for (const m of event.members) {
    if (m.key === 'user') {
      const username = memberRaw(event.compactRaw('user') ?? '{}', 'username');
      event.set('user', username === undefined ? '{}' : `{"username":${username}}`);
    } else if (m.key === 'responseStatus') {
      const code = memberRaw(event.compactRaw('responseStatus') ?? '{}', 'code');
      event.set('responseStatus', code === undefined ? undefined : `{"code":${code}}`);
    } else if (!KEPT.has(m.key) && m.key !== 'annotations') event.set(m.key, undefined);
  }
  event.set('annotations', withStrings(undefined, { ...keep, [TRUNCATED_ANNOTATION]: 'true' }));
}

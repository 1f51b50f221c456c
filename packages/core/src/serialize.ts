/**
 * @module
 * One line per event: `{"kind":"Event","apiVersion":…` first, so that tools decoding by type
 * (audit2rbac, the log backend's consumers) accept each line, then the fields in the order
 * received, as received. Only fields a pipeline step changed are written anew.
 */
import type { AuditEvent } from './event';
import { minify } from './internal/json-scan';

const prefixes = new Map<string, string>();

/** The opening of an event's line: `{"kind":"Event","apiVersion":…` (without a closing brace). */
export function prefixOf(apiVersion: string): string {
  let prefix = prefixes.get(apiVersion);
  if (prefix === undefined) {
    prefix = `{"kind":"Event","apiVersion":${JSON.stringify(apiVersion)}`;
    if (prefixes.size < 16) prefixes.set(apiVersion, prefix);
  }
  return prefix;
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
  // The common case: a webhook item, compact and untyped, untouched by the pipeline.
  if (event.pristine && event.compact && !event.typed) {
    return event.members.length === 0 ? `${prefix}}` : `${prefix},${s.slice(event.start + 1, event.end)}`;
  }
  const overrides = event.overrides();
  let line = prefix;
  for (const m of event.members) {
    if (m.key === 'kind' || m.key === 'apiVersion') continue;
    const key = event.compact
      ? s.slice(m.keyStart, m.valueStart - 1)
      : minify(s, m.keyStart, m.valueStart).slice(0, -1);
    if (overrides?.has(m.key)) {
      const raw = overrides.get(m.key);
      if (raw !== undefined) line += `,${key}:${raw}`;
    } else {
      line += `,${key}:${event.compact ? s.slice(m.valueStart, m.valueEnd) : minify(s, m.valueStart, m.valueEnd)}`;
    }
  }
  for (const [key, raw] of event.added()) line += `,${JSON.stringify(key)}:${raw}`;
  return `${line}}`;
}

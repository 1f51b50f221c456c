/**
 * @module
 * Edits on raw JSON text: replace or drop members of an object, or elements of an array, and keep
 * every other byte. Inputs are compact (the pipeline minifies a spaced event first).
 */
import { decodeString, elementsOf, type Member, membersOf } from './json-scan';

/** What to do with a member or element: its new raw JSON, `undefined` to drop it, or `KEEP`. */
export const KEEP = Symbol('keep');
export type Edit = string | undefined | typeof KEEP;

/** The raw value of the member `key` of a raw object, or undefined. */
function memberRaw(raw: string, key: string): string | undefined {
  if (raw.charCodeAt(0) !== 123) return undefined;
  let found: Member | undefined;
  for (const m of membersOf(raw, 0)) if (m.key === key) found = m;
  return found && raw.slice(found.valueStart, found.valueEnd);
}

/** The decoded string value of `key` in a raw object, or undefined when absent or not a string. */
export function memberString(raw: string, key: string): string | undefined {
  const value = memberRaw(raw, key);
  return value?.charCodeAt(0) === 34 ? decodeString(value) : undefined;
}

/** Rewrite a raw object member by member; returns the same string when nothing changed. */
export function rewriteObject(raw: string, edit: (key: string, value: string) => Edit): string {
  if (raw.charCodeAt(0) !== 123) return raw;
  let changed = false;
  const parts: string[] = [];
  for (const m of membersOf(raw, 0)) {
    const value = raw.slice(m.valueStart, m.valueEnd);
    const next = edit(m.key, value);
    if (next === KEEP || next === value) parts.push(raw.slice(m.keyStart, m.valueEnd));
    else {
      changed = true;
      if (next !== undefined) parts.push(`${raw.slice(m.keyStart, m.valueStart)}${next}`);
    }
  }
  return changed ? `{${parts.join(',')}}` : raw;
}

/** Rewrite a raw array element by element; returns the same string when nothing changed. */
export function rewriteArray(raw: string, edit: (value: string) => Edit): string {
  if (raw.charCodeAt(0) !== 91) return raw;
  let changed = false;
  const parts: string[] = [];
  for (const [start, end] of elementsOf(raw, 0)) {
    const value = raw.slice(start, end);
    const next = edit(value);
    if (next === KEEP || next === value) parts.push(value);
    else {
      changed = true;
      if (next !== undefined) parts.push(next);
    }
  }
  return changed ? `[${parts.join(',')}]` : raw;
}

/** Set string members of a raw object (or of `{}` when `raw` is absent or null), keeping the rest in order. */
export function withStrings(raw: string | undefined, entries: Readonly<Record<string, string>>): string {
  const base = raw === undefined || raw === 'null' ? '{}' : raw;
  const pending = new Map(Object.entries(entries));
  const keys = new Set(pending.keys());
  let out = rewriteObject(base, (key) => {
    if (!keys.has(key)) return KEEP;
    if (!pending.has(key)) return undefined; // a duplicate key would shadow the new value
    const value = JSON.stringify(pending.get(key));
    pending.delete(key);
    return value;
  });
  if (pending.size > 0) {
    const added = [...pending].map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(',');
    out = out === '{}' ? `{${added}}` : `${out.slice(0, -1)},${added}}`;
  }
  return out;
}

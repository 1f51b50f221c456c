/**
 * @module
 * Read a few fields of an object in place, from the event's source text: cheaper than JSON.parse
 * of the whole object when only some strings are wanted (the policy step reads objectRef and the
 * user's name and groups of every event).
 */
import { JsonScanner, skipWs } from './json-scan';

/** Call `visit` with each string member of the (validated) object at `start`, decoded. */
export function forEachString(s: string, start: number, visit: (key: string, value: string) => void): void {
  const scanner = new JsonScanner();
  scanner.scanObject(s, start, 0, (key, _keyStart, valueStart) => {
    if (s.charCodeAt(valueStart) !== 34) return -1;
    const valueEnd = scanner.skipString(s, valueStart);
    visit(key, scanner.lastString(s, valueStart, valueEnd));
    return valueEnd;
  });
}

/** The string elements of the (validated) array at `start`; other elements are left out. */
export function stringElements(s: string, start: number, scanner: JsonScanner): string[] {
  const out: string[] = [];
  let i = skipWs(s, start + 1);
  if (s.charCodeAt(i) === 93) return out;
  for (;;) {
    let end: number;
    if (s.charCodeAt(i) === 34) {
      end = scanner.skipString(s, i);
      out.push(scanner.lastString(s, i, end));
    } else end = scanner.skipValue(s, i, 1);
    i = skipWs(s, end);
    if (s.charCodeAt(i) === 93) return out;
    i = skipWs(s, i + 1);
  }
}

/** The user's name and groups, as the policy checker sees them; null for `{}` (no authenticated user). */
export function userAt(s: string, start: number): { username?: string; groups?: readonly string[] } | null {
  let username: string | undefined;
  let groups: string[] | undefined;
  const scanner = new JsonScanner();
  scanner.scanObject(s, start, 0, (key, _keyStart, valueStart) => {
    const c = s.charCodeAt(valueStart);
    if (key === 'username' && c === 34) {
      const end = scanner.skipString(s, valueStart);
      username = scanner.lastString(s, valueStart, end);
      return end;
    }
    if (key === 'groups' && c === 91) {
      groups = stringElements(s, valueStart, scanner);
      return scanner.skipValue(s, valueStart, 1);
    }
    return -1;
  });
  if (username === undefined && groups === undefined) return null;
  const user: { username?: string; groups?: readonly string[] } = {};
  if (username !== undefined) user.username = username;
  if (groups !== undefined) user.groups = groups;
  return user;
}

/**
 * @module
 * A validating JSON scanner that reports where values are instead of building them. The pipeline
 * keeps each event's source text and edits it in place, so numbers, string escapes and key order
 * come out exactly as they arrived (JSON.parse would round `9007199254740993`).
 *
 * Strict RFC 8259: no comments, no trailing commas, no control characters in strings. Iterative,
 * so deep nesting cannot overflow the stack; depth is capped like Go's encoding/json (10000),
 * which is the deepest document an API server can produce.
 */

/** Nesting limit of Go's encoding/json; an API server never sends anything deeper. */
export const MAX_DEPTH = 10_000;

export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
  }
}

/** A member of a JSON object: the key (decoded) and where its raw key and value stand. */
export interface Member {
  readonly key: string;
  /** index of the key's opening quote */
  readonly keyStart: number;
  readonly valueStart: number;
  readonly valueEnd: number;
}

/** Skip whitespace from `i`; returns the index of the next token (or the end). */
export function skipWs(s: string, i: number): number {
  let c = s.charCodeAt(i);
  if (c > 32) return i;
  while (c === 32 || c === 10 || c === 13 || c === 9) c = s.charCodeAt(++i);
  return i;
}

function describe(s: string, i: number): string {
  return i >= s.length ? 'unexpected end of input' : 'unexpected character';
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

const CONTROL_CHARACTERS = Array.from({ length: 32 }, (_, code) => String.fromCharCode(code));

/** One native search per control character: several times faster than a regex character class. */
function hasControlCharacter(s: string): boolean {
  for (const c of CONTROL_CHARACTERS) if (s.includes(c)) return true;
  return false;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export function skipNumber(s: string, i: number): number {
  let c = s.charCodeAt(i);
  if (c === 45) c = s.charCodeAt(++i);
  if (c === 48) c = s.charCodeAt(++i);
  else if (c >= 49 && c <= 57) {
    do c = s.charCodeAt(++i);
    while (isDigit(c));
  } else throw new JsonSyntaxError('invalid number', i);
  if (c === 46) {
    if (!isDigit(s.charCodeAt(++i))) throw new JsonSyntaxError('invalid number', i);
    do c = s.charCodeAt(++i);
    while (isDigit(c));
  }
  if (c === 101 || c === 69) {
    c = s.charCodeAt(++i);
    if (c === 43 || c === 45) c = s.charCodeAt(++i);
    if (!isDigit(c)) throw new JsonSyntaxError('invalid number', i);
    do c = s.charCodeAt(++i);
    while (isDigit(c));
  }
  return i;
}

function skipLiteral(s: string, i: number, word: string): number {
  if (!s.startsWith(word, i)) throw new JsonSyntaxError(describe(s, i), i);
  return i + word.length;
}

const OBJECT = 1;
const ARRAY = 2;

/**
 * One scan's state, kept with the scan: whether the last string had escapes, how much whitespace
 * was skipped, where the native search stands, the stack of open containers. Nothing is shared
 * between scanners, so scans cannot disturb each other (one may run inside another's callback).
 * `JsonScanner.forDocument(s)` prepares a whole body for the fast string search; `new
 * JsonScanner()` scans any text character by character.
 */
export class JsonScanner {
  /** Set by skipString: whether the string it just skipped has escapes (read it with lastString). */
  escaped = false;
  /** Runs of whitespace skipped so far: unchanged across a span means the span is compact. */
  whitespaceRuns = 0;
  /** The text whose strings skipString may search natively (no control characters in it). */
  readonly #searchable: string | undefined;
  /** The next backslash at or after #searchedFrom in #searchable (2^32 - 1 when none). */
  #nextBackslash = 0;
  #searchedFrom = 0;
  /** Open containers of skipValue; grown on demand. */
  #stack: Uint8Array = new Uint8Array(16);

  /**
   * A scanner for `s` whose strings are skipped by native search when `s` has no control
   * characters (true of compact JSON: a raw one could only stand, invalidly, in a string).
   */
  static forDocument(s: string): JsonScanner {
    // Whitespace around the document (Go's encoder ends it with a newline) is not in any string.
    let start = 0;
    let end = s.length;
    while (start < end && s.charCodeAt(start) <= 32) start++;
    while (end > start && s.charCodeAt(end - 1) <= 32) end--;
    const trimmed = start === 0 && end === s.length ? s : s.slice(start, end);
    return new JsonScanner(hasControlCharacter(trimmed) ? undefined : s);
  }

  constructor(searchable?: string) {
    this.#searchable = searchable;
  }

  /** Skip whitespace from `i`, counting the run in `whitespaceRuns`. */
  skipWs(s: string, i: number): number {
    let c = s.charCodeAt(i);
    if (c > 32) return i;
    if (c === 32 || c === 10 || c === 13 || c === 9) {
      this.whitespaceRuns++;
      do c = s.charCodeAt(++i);
      while (c === 32 || c === 10 || c === 13 || c === 9);
    }
    return i;
  }

  /** `i` is at the opening quote; returns the index after the closing quote, and sets `escaped`. */
  skipString(s: string, i: number): number {
    if (s !== this.#searchable) return this.#skipStringSlowly(s, i);
    // No control characters anywhere: a string ends at the next quote that no backslash escapes,
    // and quotes and backslashes are found by native search instead of a loop per character.
    let escaped = false;
    let from = i + 1;
    for (;;) {
      const quote = s.indexOf('"', from);
      if (this.#nextBackslash < from || from < this.#searchedFrom) {
        this.#searchedFrom = from;
        this.#nextBackslash = s.indexOf('\\', from) >>> 0; // -1 becomes 2^32 - 1
      }
      if (quote === -1) return this.#skipStringSlowly(s, i); // unterminated: let it say so
      if (quote < this.#nextBackslash) {
        this.escaped = escaped;
        return quote + 1;
      }
      // A backslash comes first: check its escape and search on after it.
      const b = this.#nextBackslash;
      const e = s.charCodeAt(b + 1);
      if (e === 117) {
        if (
          !(
            isHex(s.charCodeAt(b + 2)) &&
            isHex(s.charCodeAt(b + 3)) &&
            isHex(s.charCodeAt(b + 4)) &&
            isHex(s.charCodeAt(b + 5))
          )
        )
          return this.#skipStringSlowly(s, i);
        from = b + 6;
      } else if (e === 34 || e === 92 || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116) {
        from = b + 2;
      } else return this.#skipStringSlowly(s, i);
      escaped = true;
    }
  }

  #skipStringSlowly(s: string, i: number): number {
    i++;
    this.escaped = false;
    for (;;) {
      const c = s.charCodeAt(i++);
      if (c === 34) return i;
      if (c === 92) {
        this.escaped = true;
        const e = s.charCodeAt(i++);
        if (e === 117) {
          if (
            !(
              isHex(s.charCodeAt(i)) &&
              isHex(s.charCodeAt(i + 1)) &&
              isHex(s.charCodeAt(i + 2)) &&
              isHex(s.charCodeAt(i + 3))
            )
          )
            throw new JsonSyntaxError('invalid \\u escape in string', i - 2);
          i += 4;
        } else if (
          !(e === 34 || e === 92 || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116)
        ) {
          throw new JsonSyntaxError('invalid escape in string', i - 2);
        }
      } else if (!(c >= 32)) {
        // NaN (past the end) lands here too
        throw new JsonSyntaxError(Number.isNaN(c) ? 'unterminated string' : 'control character in string', i - 1);
      }
    }
  }

  /** The string token skipString just skipped, from `start` (its quote) to `end`, decoded. */
  lastString(s: string, start: number, end: number): string {
    return this.escaped ? (JSON.parse(s.slice(start, end)) as string) : s.slice(start + 1, end - 1);
  }

  /**
   * Validate the value at `i` (no leading whitespace) and return the index just after it.
   * `depth` is the nesting depth of the value's container, for the depth limit.
   */
  skipValue(s: string, i: number, depth = 0): number {
    let stack = this.#stack;
    let sp = 0;
    for (;;) {
      // A value starts at i.
      const c = s.charCodeAt(i);
      if (c === 34) i = this.skipString(s, i);
      else if (c === 123 || c === 91) {
        if (depth + sp >= MAX_DEPTH) throw new JsonSyntaxError(`nesting deeper than ${MAX_DEPTH}`, i);
        i = i + 1;
        if (s.charCodeAt(i) <= 32) i = this.skipWs(s, i);
        if (c === 123) {
          if (s.charCodeAt(i) === 125) i++;
          else {
            if (sp === stack.length) this.#stack = stack = grow(stack);
            stack[sp++] = OBJECT;
            i = this.#skipKey(s, i);
            continue;
          }
        } else if (s.charCodeAt(i) === 93) i++;
        else {
          if (sp === stack.length) this.#stack = stack = grow(stack);
          stack[sp++] = ARRAY;
          continue;
        }
      } else if (c === 45 || isDigit(c)) i = skipNumber(s, i);
      else if (c === 116) i = skipLiteral(s, i, 'true');
      else if (c === 102) i = skipLiteral(s, i, 'false');
      else if (c === 110) i = skipLiteral(s, i, 'null');
      else throw new JsonSyntaxError(describe(s, i), i);

      // After a value: close containers until one wants another value.
      for (;;) {
        if (sp === 0) return i;
        if (s.charCodeAt(i) <= 32) i = this.skipWs(s, i);
        const d = s.charCodeAt(i);
        if (d === 44) {
          i = i + 1;
          if (s.charCodeAt(i) <= 32) i = this.skipWs(s, i);
          if (stack[sp - 1] === OBJECT) i = this.#skipKey(s, i);
          break;
        }
        if (d === (stack[sp - 1] === OBJECT ? 125 : 93)) {
          sp--;
          i++;
        } else throw new JsonSyntaxError(describe(s, i), i);
      }
    }
  }

  /** At a key: skip `"key" :` and the whitespace after, landing on the value. */
  #skipKey(s: string, i: number): number {
    if (s.charCodeAt(i) !== 34)
      throw new JsonSyntaxError(i >= s.length ? 'unexpected end of input' : 'expected a key', i);
    i = this.skipWs(s, this.skipString(s, i));
    if (s.charCodeAt(i) !== 58) throw new JsonSyntaxError("expected ':'", i);
    return this.skipWs(s, i + 1);
  }

  /**
   * Scan the object at `i` (at its `{`), calling `onMember` for each member with the key decoded;
   * the callback returns where the value ends (it may scan the value itself, with this scanner),
   * or -1 to let the scanner skip it. Returns the index after the closing `}`.
   */
  scanObject(
    s: string,
    i: number,
    depth: number,
    onMember: (key: string, keyStart: number, valueStart: number) => number,
  ): number {
    if (depth >= MAX_DEPTH) throw new JsonSyntaxError(`nesting deeper than ${MAX_DEPTH}`, i);
    i = this.skipWs(s, i + 1);
    if (s.charCodeAt(i) === 125) return i + 1;
    for (;;) {
      if (s.charCodeAt(i) !== 34)
        throw new JsonSyntaxError(i >= s.length ? 'unexpected end of input' : 'expected a key', i);
      const keyStart = i;
      const keyEnd = this.skipString(s, i);
      const key = this.lastString(s, keyStart, keyEnd);
      i = this.skipWs(s, keyEnd);
      if (s.charCodeAt(i) !== 58) throw new JsonSyntaxError("expected ':'", i);
      const valueStart = this.skipWs(s, i + 1);
      let valueEnd = onMember(key, keyStart, valueStart);
      if (valueEnd < 0) valueEnd = this.skipValue(s, valueStart, depth + 1);
      i = this.skipWs(s, valueEnd);
      const c = s.charCodeAt(i);
      if (c === 44) i = this.skipWs(s, i + 1);
      else if (c === 125) return i + 1;
      else throw new JsonSyntaxError(describe(s, i), i);
    }
  }
}

function grow(old: Uint8Array): Uint8Array {
  const next = new Uint8Array(old.length * 2);
  next.set(old);
  return next;
}

/** Decode a raw JSON string token (quotes included). */
export function decodeString(raw: string): string {
  return raw.indexOf('\\') === -1 ? raw.slice(1, -1) : (JSON.parse(raw) as string);
}

/** The members of the (already validated) object at `start`. */
export function membersOf(s: string, start: number): Member[] {
  const members: Member[] = [];
  const scanner = new JsonScanner();
  scanner.scanObject(s, start, 0, (key, keyStart, valueStart) => {
    const valueEnd = scanner.skipValue(s, valueStart, 1);
    members.push({ key, keyStart, valueStart, valueEnd });
    return valueEnd;
  });
  return members;
}

/** Remove the whitespace outside strings from a span of valid JSON. */
export function minify(s: string, start: number, end: number): string {
  const scanner = new JsonScanner();
  let out = '';
  let from = start;
  let i = start;
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c === 34) i = scanner.skipString(s, i);
    else if (c === 32 || c === 10 || c === 13 || c === 9) {
      out += s.slice(from, i);
      while (i < end && s.charCodeAt(i) <= 32) i++;
      from = i;
    } else i++;
  }
  return out + s.slice(from, end);
}

/** Where the elements of the (already validated) array at `start` stand. */
export function elementsOf(s: string, start: number): [start: number, end: number][] {
  const elements: [number, number][] = [];
  const scanner = new JsonScanner();
  let i = skipWs(s, start + 1);
  if (s.charCodeAt(i) === 93) return elements;
  for (;;) {
    const end = scanner.skipValue(s, i, 1);
    elements.push([i, end]);
    i = skipWs(s, end);
    if (s.charCodeAt(i) === 93) return elements;
    i = skipWs(s, i + 1);
  }
}

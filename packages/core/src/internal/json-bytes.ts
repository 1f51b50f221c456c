/**
 * @module
 * The validating JSON scanner of `./json-scan`, over UTF-8 bytes instead of a string: what a body
 * is parsed with, so that it is held once, as received, and each unchanged event is written out
 * as a copy of its own bytes. Positions are byte offsets. Strings are checked to be valid UTF-8 as
 * they are skipped (Unicode 15 Table 3-7, what a fatal TextDecoder accepts), so a body needs no
 * decoding to be validated.
 */
import { JsonSyntaxError, MAX_DEPTH } from './json-scan';

/** Invalid UTF-8 in a string (or a byte no JSON text can hold). */
export class Utf8Error extends JsonSyntaxError {}

/** What a byte means inside a string: 0 plain ASCII, else a case skipString must look at. */
const PLAIN = 0;
const QUOTE = 1;
const BACKSLASH = 2;
const CONTROL = 3;
const NON_ASCII = 4;
const STRING_CLASS = (() => {
  const table = new Uint8Array(256);
  for (let c = 0; c < 32; c++) table[c] = CONTROL;
  table[34] = QUOTE;
  table[92] = BACKSLASH;
  for (let c = 128; c < 256; c++) table[c] = NON_ASCII;
  return table;
})();

/**
 * How many of the four bytes of the little-endian word `x` a string holds as they are before the
 * first that it cannot: a quote, a backslash, a control character or a non-ASCII byte (4 when
 * none). `(v - 0x01010101) & ~v & 0x80808080` flags the zero bytes of v, and the lowest flag is
 * exact (a borrow runs only upward), so the byte is found without looking at the four one by one.
 */
function plainBytes(x: number): number {
  const quote = x ^ 0x22222222;
  const backslash = x ^ 0x5c5c5c5c;
  const special =
    (x |
      (((quote - 0x01010101) | 0) & ~quote) |
      (((backslash - 0x01010101) | 0) & ~backslash) |
      (((x - 0x20202020) | 0) & ~x)) &
    0x80808080;
  return special === 0 ? 4 : (31 - Math.clz32(special & -special)) >> 3;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function describe(b: Uint8Array, i: number): string {
  return i >= b.length ? 'unexpected end of input' : 'unexpected character';
}

/** Skip whitespace from `i`; returns the index of the next token (or the end). */
export function skipWsBytes(b: Uint8Array, i: number): number {
  let c = b[i] as number;
  while (c === 32 || c === 10 || c === 13 || c === 9) c = b[++i] as number;
  return i;
}

/**
 * The end of the UTF-8 sequence whose lead byte is at `i` (≥ 0x80).
 *
 * @throws {Utf8Error} for an invalid or truncated sequence.
 */
function skipUtf8(b: Uint8Array, i: number): number {
  const lead = b[i] as number;
  const c1 = b[i + 1] as number;
  // Table 3-7: the second byte's range depends on the lead; later bytes are 80..BF.
  if (lead >= 0xc2 && lead <= 0xdf) {
    if (c1 >= 0x80 && c1 <= 0xbf) return i + 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    const lo = lead === 0xe0 ? 0xa0 : 0x80;
    const hi = lead === 0xed ? 0x9f : 0xbf;
    if (c1 >= lo && c1 <= hi && ((b[i + 2] as number) & 0xc0) === 0x80) return i + 3;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    const lo = lead === 0xf0 ? 0x90 : 0x80;
    const hi = lead === 0xf4 ? 0x8f : 0xbf;
    if (c1 >= lo && c1 <= hi && ((b[i + 2] as number) & 0xc0) === 0x80 && ((b[i + 3] as number) & 0xc0) === 0x80)
      return i + 4;
  }
  throw new Utf8Error('invalid UTF-8', i);
}

/** True when `b[start, end)` is valid UTF-8 (a leading byte order mark included). */
export function isValidUtf8(b: Uint8Array, start = 0, end = b.length): boolean {
  for (let i = start; i < end; ) {
    if ((b[i] as number) < 0x80) i++;
    else {
      try {
        i = skipUtf8(b, i);
      } catch {
        return false;
      }
      if (i > end) return false;
    }
  }
  return true;
}

const OBJECT = 1;
const ARRAY = 2;

/** A scan's state over one byte array: as {@link JsonScanner} of `./json-scan`, for bytes. */
export class ByteScanner {
  /** Set by skipString: whether the string it just skipped has escapes. */
  escaped = false;
  /**
   * Members named `kind` skipped so far (within skipValue) whose value is one of the watched
   * kinds, plus the `\u` escapes met in strings (an escape can spell a key or a kind). Unchanged
   * across a value means that no object in it is of a watched kind.
   */
  sightings = 0;
  /** The watched kinds as JSON string tokens, quotes included. */
  readonly #watched: readonly Uint8Array[];
  /** Whether any kind is watched: without, `sightings` says nothing of kinds. */
  readonly watching: boolean;
  /** Runs of whitespace skipped so far: unchanged across a span means the span is compact. */
  whitespaceRuns = 0;
  /** Open containers of skipValue; grown on demand. */
  #stack: Uint8Array = new Uint8Array(16);
  /** The bytes last scanned, and a DataView of them for reading four at a time. */
  #source: Uint8Array | undefined;
  #view: DataView | undefined;

  /** `watchedKinds`: the kinds (printable ASCII) whose objects are counted in `sightings`. */
  constructor(watchedKinds: readonly string[] = []) {
    this.#watched = watchedKinds.map((kind) => {
      if (!/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/.test(kind)) throw new RangeError(`not a kind: ${JSON.stringify(kind)}`);
      return Uint8Array.from(`"${kind}"`, (c) => c.charCodeAt(0));
    });
    this.watching = watchedKinds.length > 0;
  }

  /** Skip whitespace from `i`, counting the run in `whitespaceRuns`. */
  skipWs(b: Uint8Array, i: number): number {
    let c = b[i] as number;
    if (c > 32) return i;
    if (c === 32 || c === 10 || c === 13 || c === 9) {
      this.whitespaceRuns++;
      do c = b[++i] as number;
      while (c === 32 || c === 10 || c === 13 || c === 9);
    }
    return i;
  }

  #viewOf(b: Uint8Array): DataView {
    this.#source = b;
    this.#view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return this.#view;
  }

  /** `i` is at the opening quote; returns the index after the closing quote, and sets `escaped`. */
  skipString(b: Uint8Array, i: number): number {
    // Small enough to be inlined where strings are met: the words of a plain string, up to its
    // closing quote; anything else (escapes, UTF-8, the last bytes of the body) is #skipStringRest.
    const view = this.#source === b ? (this.#view as DataView) : this.#viewOf(b);
    i++;
    for (const last = b.length - 4; i <= last; i += 4) {
      // plainBytes, written out: a call here would make this function too large to inline.
      const x = view.getInt32(i, true);
      const quote = x ^ 0x22222222;
      const backslash = x ^ 0x5c5c5c5c;
      const special =
        (x |
          (((quote - 0x01010101) | 0) & ~quote) |
          (((backslash - 0x01010101) | 0) & ~backslash) |
          (((x - 0x20202020) | 0) & ~x)) &
        0x80808080;
      if (special !== 0) {
        i += (31 - Math.clz32(special & -special)) >> 3;
        if (b[i] === 34) {
          this.escaped = false;
          return i + 1;
        }
        break;
      }
    }
    return this.#skipStringRest(b, i, view);
  }

  /** skipString from `i`, inside the string. */
  #skipStringRest(b: Uint8Array, i: number, view: DataView): number {
    const classes = STRING_CLASS;
    const n = b.length;
    let escaped = false;
    for (;;) {
      // Plain ASCII four bytes a step, then byte by byte up to the end.
      for (const last = n - 4; i <= last; ) {
        const plain = plainBytes(view.getInt32(i, true));
        i += plain;
        if (plain < 4) break;
      }
      while (i < n && classes[b[i] as number] === PLAIN) i++;
      if (i >= n) throw new JsonSyntaxError('unterminated string', i);
      const kind = classes[b[i] as number];
      if (kind === QUOTE) break;
      if (kind === BACKSLASH) {
        escaped = true;
        const e = b[i + 1] as number;
        if (e === 117) {
          if (
            !(
              isHex(b[i + 2] as number) &&
              isHex(b[i + 3] as number) &&
              isHex(b[i + 4] as number) &&
              isHex(b[i + 5] as number)
            )
          )
            throw new JsonSyntaxError('invalid \\u escape in string', i);
          this.sightings++;
          i += 6;
        } else if (e === 34 || e === 92 || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116) {
          i += 2;
        } else throw new JsonSyntaxError('invalid escape in string', i);
      } else if (kind === NON_ASCII) {
        i = skipUtf8(b, i);
      } else throw new JsonSyntaxError('control character in string', i);
    }
    this.escaped = escaped;
    return i + 1;
  }

  /**
   * Validate the value at `i` (no leading whitespace) and return the index just after it.
   * `depth` is the nesting depth of the value's container, for the depth limit.
   */
  skipValue(b: Uint8Array, i: number, depth = 0): number {
    let stack = this.#stack;
    let sp = 0;
    for (;;) {
      // A value starts at i.
      const c = b[i] as number;
      if (c === 34) i = this.skipString(b, i);
      else if (c === 123 || c === 91) {
        if (depth + sp >= MAX_DEPTH) throw new JsonSyntaxError(`nesting deeper than ${MAX_DEPTH}`, i);
        i = i + 1;
        if ((b[i] as number) <= 32) i = this.skipWs(b, i);
        if (c === 123) {
          if (b[i] === 125) i++;
          else {
            if (sp === stack.length) this.#stack = stack = grow(stack);
            stack[sp++] = OBJECT;
            i = this.#skipKey(b, i);
            continue;
          }
        } else if (b[i] === 93) i++;
        else {
          if (sp === stack.length) this.#stack = stack = grow(stack);
          stack[sp++] = ARRAY;
          continue;
        }
      } else if (c === 45 || isDigit(c)) i = skipNumber(b, i);
      else if (c === 116)
        i = skipLiteral(b, i, 114, 117, 101, 4); // true
      else if (c === 102)
        i = skipLiteral5(b, i); // false
      else if (c === 110)
        i = skipLiteral(b, i, 117, 108, 108, 4); // null
      else throw new JsonSyntaxError(describe(b, i), i);

      // After a value: close containers until one wants another value.
      for (;;) {
        if (sp === 0) return i;
        if ((b[i] as number) <= 32) i = this.skipWs(b, i);
        const d = b[i];
        if (d === 44) {
          i = i + 1;
          if ((b[i] as number) <= 32) i = this.skipWs(b, i);
          if (stack[sp - 1] === OBJECT) i = this.#skipKey(b, i);
          break;
        }
        if (d === (stack[sp - 1] === OBJECT ? 125 : 93)) {
          sp--;
          i++;
        } else throw new JsonSyntaxError(describe(b, i), i);
      }
    }
  }

  /** At a key: skip `"key" :` and the whitespace after, landing on the value. */
  #skipKey(b: Uint8Array, i: number): number {
    if (b[i] !== 34) throw new JsonSyntaxError(i >= b.length ? 'unexpected end of input' : 'expected a key', i);
    const key = i;
    i = this.skipString(b, i);
    const isKind =
      i - key === 6 && b[key + 1] === 107 && b[key + 2] === 105 && b[key + 3] === 110 && b[key + 4] === 100;
    if ((b[i] as number) <= 32) i = this.skipWs(b, i);
    if (b[i] !== 58) throw new JsonSyntaxError("expected ':'", i);
    i++;
    if ((b[i] as number) <= 32) i = this.skipWs(b, i);
    // A kind's value is compared here, then skipped (validated) as any other value.
    if (isKind) this.#sightKind(b, i);
    return i;
  }

  #sightKind(b: Uint8Array, i: number): void {
    for (const kind of this.#watched) {
      let k = 0;
      while (k < kind.length && b[i + k] === kind[k]) k++;
      if (k === kind.length) {
        this.sightings++;
        return;
      }
    }
  }
}

function skipNumber(b: Uint8Array, i: number): number {
  let c = b[i] as number;
  if (c === 45) c = b[++i] as number;
  if (c === 48) c = b[++i] as number;
  else if (c >= 49 && c <= 57) {
    do c = b[++i] as number;
    while (isDigit(c));
  } else throw new JsonSyntaxError('invalid number', i);
  if (c === 46) {
    if (!isDigit(b[++i] as number)) throw new JsonSyntaxError('invalid number', i);
    do c = b[++i] as number;
    while (isDigit(c));
  }
  if (c === 101 || c === 69) {
    c = b[++i] as number;
    if (c === 43 || c === 45) c = b[++i] as number;
    if (!isDigit(c)) throw new JsonSyntaxError('invalid number', i);
    do c = b[++i] as number;
    while (isDigit(c));
  }
  return i;
}

/** `true` or `null`: the first byte is checked, then these three. */
function skipLiteral(b: Uint8Array, i: number, c1: number, c2: number, c3: number, length: number): number {
  if (b[i + 1] !== c1 || b[i + 2] !== c2 || b[i + 3] !== c3) throw new JsonSyntaxError(describe(b, i), i);
  return i + length;
}

function skipLiteral5(b: Uint8Array, i: number): number {
  if (b[i + 1] !== 97 || b[i + 2] !== 108 || b[i + 3] !== 115 || b[i + 4] !== 101)
    throw new JsonSyntaxError(describe(b, i), i);
  return i + 5;
}

function grow(old: Uint8Array): Uint8Array {
  const next = new Uint8Array(old.length * 2);
  next.set(old);
  return next;
}

/** The standard TextEncoder and TextDecoder, typed here as the core is built without DOM types. */
interface Utf8Decoder {
  decode(input: Uint8Array): string;
}
interface Utf8Encoder {
  encode(input: string): Uint8Array;
}
const codecs = globalThis as unknown as {
  TextDecoder?: new () => Utf8Decoder;
  TextEncoder?: new () => Utf8Encoder;
};

/**
 * UTF-8 in plain ECMAScript, for a bare runtime without TextEncoder and TextDecoder (every runtime
 * the core is meant for has them; an embedded engine may not). Decoding assumes valid UTF-8, as
 * the parser has checked it; encoding writes an unpaired surrogate as U+FFFD, as TextEncoder does.
 */
const plainUtf8: Utf8Decoder & Utf8Encoder = {
  decode(b) {
    let out = '';
    for (let i = 0; i < b.length; ) {
      const c = b[i] as number;
      let code: number;
      if (c < 0x80) code = b[i++] as number;
      else if (c < 0xe0) code = ((c & 0x1f) << 6) | ((b[i + 1] as number) & 0x3f);
      else if (c < 0xf0)
        code = ((c & 0x0f) << 12) | (((b[i + 1] as number) & 0x3f) << 6) | ((b[i + 2] as number) & 0x3f);
      else
        code =
          ((c & 0x07) << 18) |
          (((b[i + 1] as number) & 0x3f) << 12) |
          (((b[i + 2] as number) & 0x3f) << 6) |
          ((b[i + 3] as number) & 0x3f);
      if (c >= 0x80) i += c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
      out += String.fromCodePoint(code);
    }
    return out;
  },
  encode(text) {
    const out: number[] = [];
    for (let i = 0; i < text.length; i++) {
      let code = text.charCodeAt(i);
      if (code >= 0xd800 && code <= 0xdfff) {
        const next = text.charCodeAt(i + 1);
        if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
          i++;
        } else code = 0xfffd;
      }
      if (code < 0x80) out.push(code);
      else if (code < 0x800) out.push(0xc0 | (code >> 6), 0x80 | (code & 0x3f));
      else if (code < 0x10000) out.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f));
      else
        out.push(0xf0 | (code >> 18), 0x80 | ((code >> 12) & 0x3f), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f));
    }
    return new Uint8Array(out);
  },
};

const decoder: Utf8Decoder = codecs.TextDecoder ? new codecs.TextDecoder() : plainUtf8;
/** UTF-8 encoding of text. */
export const utf8Encoder: Utf8Encoder = codecs.TextEncoder ? new codecs.TextEncoder() : plainUtf8;

/** The text of (already validated) UTF-8 bytes `b[start, end)`. */
export function decodeBytes(b: Uint8Array, start: number, end: number): string {
  return decoder.decode(b.subarray(start, end));
}

/** The string token `b[start, end)` (quotes included) as skipString left it, decoded. */
export function stringAt(b: Uint8Array, start: number, end: number, escaped: boolean): string {
  const text = decodeBytes(b, start + (escaped ? 0 : 1), end - (escaped ? 0 : 1));
  return escaped ? (JSON.parse(text) as string) : text;
}

/** True when the bytes `b[start, start + text.length)` are the ASCII `text`. */
export function bytesEqual(b: Uint8Array, start: number, text: string): boolean {
  for (let k = 0; k < text.length; k++) if (b[start + k] !== text.charCodeAt(k)) return false;
  return true;
}

/**
 * Where the ASCII `text` first occurs in `b[start, end)`, or -1. The search never looks past `end`.
 * A plain loop: the fields searched are short, and a typed array's `indexOf` costs a call into the
 * runtime each time the first character recurs.
 */
export function indexOfAscii(b: Uint8Array, text: string, start: number, end: number): number {
  const first = text.charCodeAt(0);
  for (let i = start, last = Math.min(end, b.length) - text.length; i <= last; i++)
    if (b[i] === first && bytesEqual(b, i, text)) return i;
  return -1;
}

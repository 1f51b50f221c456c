import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteScanner, indexOfAscii, isValidUtf8, skipWsBytes, Utf8Error } from './json-bytes';
import { JsonSyntaxError } from './json-scan';

const encode = (text: string) => new TextEncoder().encode(text);
/** What the scanner makes of a whole text: valid (one value, whitespace around it) or not. */
function scans(bytes: Uint8Array): boolean {
  try {
    const end = new ByteScanner().skipValue(bytes, skipWsBytes(bytes, 0));
    return skipWsBytes(bytes, end) === bytes.length;
  } catch (error) {
    if (error instanceof JsonSyntaxError) return false;
    throw error;
  }
}
function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
/** A fatal TextDecoder: the WHATWG Encoding Standard's UTF-8 decoder, which rejects what is not UTF-8. */
function decodes(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

describe('ByteScanner', () => {
  it('accepts exactly the texts JSON.parse accepts (RFC 8259), valid and mangled', () => {
    fc.assert(
      fc.property(
        fc.json({ maxDepth: 4 }),
        fc.nat(),
        fc.constantFrom('', '"', '\\', ',', '}', ']', '\u0001', 'x', ' '),
        (json, at, insert) => {
          for (const text of [
            json,
            json.slice(0, at % (json.length + 1)),
            `${json.slice(0, at % (json.length + 1))}${insert}${json.slice(at % (json.length + 1))}`,
          ]) {
            expect(scans(encode(text)), text).toBe(parses(text));
          }
        },
      ),
      { numRuns: 2000 },
    );
    for (const text of [
      '"\\u12G4"',
      '"\\x"',
      '01',
      '1.',
      '1e',
      '-',
      'tru',
      'nul',
      'falsey',
      '[1,]',
      '{"a":1,}',
      '{"a"}',
      '"a\tb"',
      ' "é" ',
      '{"k":"😀"}',
    ])
      expect(scans(encode(text)), text).toBe(parses(text));
  });

  it('takes as UTF-8 inside strings exactly what a fatal TextDecoder takes (Unicode Table 3-7)', () => {
    // Every sequence of one to three bytes from a set that hits every row of the table and its
    // edges (ASCII, continuation bytes, C0/C1 overlongs, E0 and F0 overlongs, ED surrogates, F4
    // past U+10FFFF, F5..FF), and four-byte ones from the four-byte leads.
    const bytes = [
      0x61, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0,
      0xf1, 0xf3, 0xf4, 0xf5, 0xff,
    ];
    const continuations = [0x61, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc2];
    const sequences: number[][] = [];
    for (const a of bytes) {
      sequences.push([a]);
      for (const b of bytes) {
        sequences.push([a, b]);
        for (const c of bytes) sequences.push([a, b, c]);
      }
    }
    for (const lead of [0xf0, 0xf1, 0xf3, 0xf4, 0xf5])
      for (const b of continuations)
        for (const c of continuations) for (const d of continuations) sequences.push([lead, b, c, d]);
    let valid = 0;
    for (const content of sequences) {
      const expected = decodes(new Uint8Array(content));
      if (expected) valid++;
      const name = content.map((c) => c.toString(16)).join(' ');
      expect(scans(new Uint8Array([34, ...content, 34])), name).toBe(expected);
      expect(isValidUtf8(new Uint8Array(content)), name).toBe(expected);
    }
    // Both kinds are there in numbers.
    expect(valid).toBeGreaterThan(500);
    expect(sequences.length - valid).toBeGreaterThan(5000);
  });

  it('says a string is not UTF-8 (Utf8Error), and where', () => {
    const bytes = new Uint8Array([...encode('{"a":"ok","b":"x'), 0xc3, 0x28, 34, 125]);
    expect(() => new ByteScanner().skipValue(bytes, 0)).toThrow(Utf8Error);
    try {
      new ByteScanner().skipValue(bytes, 0);
    } catch (error) {
      expect((error as Utf8Error).position).toBe(16);
    }
  });

  it('finds what ends or breaks a string at every position of the bytes it reads four at a time', () => {
    // skipString reads plain ASCII four bytes a step: a quote, an escape, a control character or a
    // non-ASCII byte must stop it wherever it falls in such a step, and a string cut short at any
    // length is unterminated, never read past the body's end.
    const sc = new ByteScanner();
    const specials: [string, number[]][] = [
      ['quote', [34]],
      ['escape', [92, 110]],
      ['control', [9]],
      ['two-byte character', [0xc3, 0xa9]],
      ['invalid byte', [0xff]],
    ];
    for (let before = 0; before <= 9; before++) {
      for (let after = 0; after <= 5; after++) {
        for (const [name, bytes] of specials) {
          const content = [...'a'.repeat(before)].map((c) => c.charCodeAt(0));
          content.push(...bytes, ...[...'b'.repeat(after)].map((c) => c.charCodeAt(0)));
          const text = new Uint8Array([34, ...content, 34]);
          const label = `${name} after ${before} plain bytes, ${after} after it`;
          const expected = decodes(text) && parses(new TextDecoder().decode(text));
          const end = (() => {
            try {
              return sc.skipString(text, 0);
            } catch (error) {
              if (error instanceof JsonSyntaxError) return -1;
              throw error;
            }
          })();
          // A quote inside ends the string early, right after it.
          if (name === 'quote') expect(end, label).toBe(before + 2);
          else expect(end, label).toBe(expected ? text.length : -1);
          // Cut before the quote that ends it, at every length: unterminated.
          const ending = name === 'quote' ? before + 1 : text.length - 1;
          for (let cut = 1; cut <= ending; cut++) {
            const error = (() => {
              try {
                sc.skipString(text.subarray(0, cut), 0);
              } catch (thrown) {
                return thrown;
              }
            })();
            expect(error, `${label}, cut at ${cut}`).toBeInstanceOf(JsonSyntaxError);
            // Plain bytes up to the cut: the error is at the end, where the quote was missed.
            if (cut <= before + 1) expect((error as JsonSyntaxError).position, `${label}, cut at ${cut}`).toBe(cut);
          }
        }
      }
    }
  });

  it('stops at the first special byte of a four-byte word, whatever byte stands before or after it', () => {
    // skipString tests four bytes at once with carries between them; a byte after a special one
    // (a space after a control character borrows differently) must not hide it or move it.
    const sc = new ByteScanner();
    const outcome = (bytes: Uint8Array) => {
      try {
        return sc.skipString(bytes, 0);
      } catch (error) {
        if (!(error instanceof JsonSyntaxError)) throw error;
        return `${error.constructor.name} at ${error.position}`;
      }
    };
    const isControl = (c: number) => c < 0x20;
    const wrong: string[] = [];
    for (let before = 0; before <= 7; before++) {
      for (let first = 0; first < 256; first++) {
        for (let second = 0; second < 256; second++) {
          if (!(first === 0x22 || isControl(first) || second === 0x22 || isControl(second))) continue;
          const bytes = new Uint8Array([34, ...Array(before).fill(0x61), first, second, 0x62, 0x62, 0x62, 0x62, 34]);
          const at = before + 1;
          const expected =
            first === 0x22
              ? at + 1
              : isControl(first)
                ? `JsonSyntaxError at ${at}`
                : first >= 0x80 || first === 0x5c
                  ? outcome(bytes) // decided by the escape or UTF-8 rules, checked elsewhere
                  : second === 0x22
                    ? at + 2
                    : `JsonSyntaxError at ${at + 1}`;
          const got = outcome(bytes);
          if (got !== expected) wrong.push(`${before} plain, then ${first}, ${second}: ${got}, not ${expected}`);
        }
      }
    }
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it('sets escaped for the string it just skipped', () => {
    const sc = new ByteScanner();
    const cases: [string, boolean][] = [
      ['"plain"', false],
      ['"a\\"b"', true],
      ['"é"', false],
      ['"\\u00e9€"', true],
    ];
    for (const [text, escaped] of cases) {
      const bytes = encode(text);
      expect(sc.skipString(bytes, 0)).toBe(bytes.length);
      expect(sc.escaped, text).toBe(escaped);
    }
  });

  it('counts the members named kind whose value is a watched kind, and the \\u escapes, wherever they stand', () => {
    const watched = ['Secret', 'SecretList', 'TokenReview'];
    const sightings = (json: string) => {
      const sc = new ByteScanner(watched);
      const bytes = encode(json);
      expect(sc.skipValue(bytes, 0), json).toBe(bytes.length);
      return sc.sightings;
    };
    const cases: [string, number][] = [
      ['{"kind":"Pod","spec":{"name":"SETTING_10","value":"Secrets"}}', 0],
      ['{"kind":"Secret"}', 1],
      ['{ "kind" :\n "SecretList" , "a": 1}', 1],
      ['[{"a":{"kind":"TokenReview"}},[{"kind":"Secret"}]]', 2],
      ['{"items":[{"kind":"Secret"},{"kind":"Secret"}]}', 2],
      // Not as the value of kind: a key, another member, an array item, a nested value.
      ['{"Secret":1,"type":"Secret","a":["Secret"],"kind":{"kind2":"Secret"},"kinds":"Secret"}', 0],
      ['{"kind":["Secret"]}', 0],
      // One byte short, one too many, another case, a different key of the same length.
      ['[{"kind":"Secre"},{"kind":"Secrett"},{"kind":"secret"},{"kinD":"Secret"},{"kinx":"Secret"}]', 0],
      ['[{"kind":"TokenRevie"},{"kind":"TokenReviews"},{"kind":"Secret\\n"},{"kind":"\\"Secret\\""}]', 0],
      // Escapes other than \u spell no letter; a \u escape anywhere counts.
      ['["Sec\\ret","a\\nb","\\/Secret"]', 0],
      ['{"\\u006bind":"Pod"}', 1],
      ['{"kind":"\\u0053ecret"}', 1],
      ['["\\u0041"]', 1],
    ];
    for (const [json, expected] of cases) expect(sightings(json), json).toBe(expected);
    // A value cut short: the comparison stops at the body's end, and the scan reports it.
    expect(() => new ByteScanner(watched).skipValue(encode('{"kind":"Secre'), 0)).toThrow(JsonSyntaxError);
    // A scanner that watches nothing counts \u escapes only.
    const plain = new ByteScanner();
    plain.skipValue(encode('[{"kind":"Secret"},"\\u0041"]'), 0);
    expect(plain.sightings).toBe(1);
  });

  it('watches kinds that are plain JSON strings only', () => {
    for (const kind of ['', 'Sécret', 'a\nb', 'a"b', 'a\\b'])
      expect(() => new ByteScanner([kind]), JSON.stringify(kind)).toThrow(RangeError);
  });
});

describe('indexOfAscii', () => {
  it('finds the first whole occurrence within [start, end), never one that runs past end', () => {
    const b = encode('xx"patch.patch.webhook/"patch.w');
    expect(indexOfAscii(b, 'patch.webhook/', 0, b.length)).toBe(9);
    expect(indexOfAscii(b, 'patch.webhook/', 9, 23)).toBe(9);
    expect(indexOfAscii(b, 'patch.webhook/', 9, 22)).toBe(-1);
    expect(indexOfAscii(b, 'patch.webhook/', 10, b.length)).toBe(-1);
    expect(indexOfAscii(b, 'patch.w', 20, b.length)).toBe(24);
    expect(indexOfAscii(b, 'patch.w', 20, b.length + 10)).toBe(24);
    expect(indexOfAscii(b, 'patch.wx', 20, b.length + 10)).toBe(-1);
    expect(indexOfAscii(b, 'x', 5, 5)).toBe(-1);
  });
});

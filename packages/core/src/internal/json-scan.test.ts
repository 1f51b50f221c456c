import { describe, expect, it } from 'vitest';
import { JsonScanner, JsonSyntaxError } from './json-scan';

describe('JsonScanner', () => {
  it('keeps its state to itself: a scan run inside another scan’s callback leaves the outer one alone', () => {
    const outer = '{ "a": "x\\"y", "b": [1, 2], "c": "plain" }';
    const inner = '{"k":"v\\u0041","l":[true]}';
    const scanner = JsonScanner.forDocument(outer);
    const values: string[] = [];
    const before = scanner.whitespaceRuns;
    scanner.scanObject(outer, 0, 0, (key, _keyStart, valueStart) => {
      // Another scan, of another text, between the outer scan's steps.
      const nested = JsonScanner.forDocument(inner);
      nested.scanObject(inner, 0, 0, () => -1);
      if (outer.charCodeAt(valueStart) !== 34) return -1;
      const end = scanner.skipString(outer, valueStart);
      nested.skipString(inner, 5); // "v\u0041": escaped
      values.push(`${key}=${scanner.lastString(outer, valueStart, end)}`);
      return end;
    });
    expect(values).toEqual(['a=x"y', 'c=plain']);
    expect(scanner.whitespaceRuns).toBeGreaterThan(before);
    // A compact text scanned by a fresh scanner counts no whitespace, whatever ran before.
    const compact = JsonScanner.forDocument(inner);
    compact.skipValue(inner, 0);
    expect(compact.whitespaceRuns).toBe(0);
  });

  it('skips strings the same by native search (a whole document) as character by character', () => {
    const text = '["a\\\\b","\\"","\\u00e9x","",{"k\\n":"\\/"}]';
    const fast = JsonScanner.forDocument(text);
    const slow = new JsonScanner();
    expect(fast.skipValue(text, 0)).toBe(text.length);
    expect(slow.skipValue(text, 0)).toBe(text.length);
    for (const bad of ['"\\x"', '"\\u12G4"', '"abc', '"a\u0001"']) {
      expect(() => JsonScanner.forDocument(bad).skipValue(bad, 0), bad).toThrow(JsonSyntaxError);
      expect(() => new JsonScanner().skipValue(bad, 0), bad).toThrow(JsonSyntaxError);
    }
  });
});

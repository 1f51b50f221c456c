/**
 * @module
 * An audit event as received: the bytes of the body it came in, where each top-level field stands
 * in them, and the changes the pipeline has made. Fields are decoded on demand; the text is only
 * rewritten where a step changed something, so everything else is written out byte for byte.
 */
import { decodeBytes, indexOfAscii } from './internal/json-bytes';
import { decodeString, type Member, minify } from './internal/json-scan';
import type { Level, Stage } from './schema';

export type { Member };

/** Replacement raw JSON for a top-level field; `undefined` removes it. */
type Override = string | undefined;

/** One audit event as received; other fields than the identifying ones are read with `get` or `raw`. */
export class AuditEvent {
  /** Changed top-level fields, by key. */
  #overrides: Map<string, Override> | undefined;
  /** Fields added after the received ones, in order. */
  #added: [key: string, raw: string][] | undefined;
  #auditID: string | undefined;
  #verb: string | undefined;
  #requestURI: string | undefined;

  constructor(
    /** The UTF-8 bytes of the whole body the event came in (shared by its events; never changed). */
    readonly source: Uint8Array,
    /** Where the event's object starts and ends in `source`, in bytes. */
    readonly start: number,
    readonly end: number,
    /** Top-level fields in the order received, at byte offsets of `source`. */
    readonly members: readonly Member[],
    /** False when the source has whitespace between tokens, which the line must not carry. */
    readonly compact: boolean,
    /** The event's own apiVersion, else its list's, else `audit.k8s.io/v1`. */
    public apiVersion: string,
    /** True when the event carries its own `kind` or `apiVersion` (they are written first instead). */
    readonly typed: boolean,
    readonly stage: Stage,
    public level: Level,
  ) {}

  /** The auditID, decoded when first read (parsing checked that it is a string). */
  get auditID(): string {
    this.#auditID ??= this.#string('auditID');
    return this.#auditID;
  }

  get verb(): string {
    this.#verb ??= this.#string('verb');
    return this.#verb;
  }

  /** The request URI; a step that changes it (exec command masking) sets it here and with `set`. */
  get requestURI(): string {
    this.#requestURI ??= this.#string('requestURI');
    return this.#requestURI;
  }

  set requestURI(value: string) {
    this.#requestURI = value;
  }

  /** A required string field as received. */
  #string(key: string): string {
    const m = this.member(key) as Member;
    return decodeString(decodeBytes(this.source, m.valueStart, m.valueEnd));
  }

  /** The last member named `key` (JSON.parse keeps the last of duplicate keys too). */
  member(key: string): Member | undefined {
    const members = this.members;
    for (let i = members.length - 1; i >= 0; i--) {
      const m = members[i] as Member;
      if (m.key === key) return m;
    }
    return undefined;
  }

  /** The member named `key` as received, or undefined when absent or changed by a step. */
  original(key: string): Member | undefined {
    return this.#overrides?.has(key) ? undefined : this.member(key);
  }

  /** True if the event has the field, as received or added, and it was not removed. */
  has(key: string): boolean {
    if (this.#overrides?.has(key)) return this.#overrides.get(key) !== undefined;
    return this.member(key) !== undefined || !!this.#added?.some(([k]) => k === key);
  }

  /** The field's current raw JSON text, or undefined when absent. */
  raw(key: string): string | undefined {
    if (this.#overrides?.has(key)) return this.#overrides.get(key);
    const m = this.member(key);
    if (m) return decodeBytes(this.source, m.valueStart, m.valueEnd);
    return this.#added?.find(([k]) => k === key)?.[1];
  }

  /** True when the field's current raw JSON text holds the ASCII `text`; searched in place, not decoded. */
  rawIncludes(key: string, text: string): boolean {
    const m = this.#overrides?.has(key) ? undefined : this.member(key);
    if (!m) return this.raw(key)?.includes(text) ?? false;
    return indexOfAscii(this.source, text, m.valueStart, m.valueEnd) !== -1;
  }

  /** Like `raw`, but without whitespace between tokens even when the event arrived pretty-printed. */
  compactRaw(key: string): string | undefined {
    const raw = this.raw(key);
    return raw === undefined || this.compact ? raw : minify(raw, 0, raw.length);
  }

  /**
   * The field decoded with JSON.parse, anew on each call. Integers beyond 2^53 lose precision, which
   * is why output is built from `raw`, never from decoded values.
   */
  get(key: string): unknown {
    const raw = this.raw(key);
    return raw === undefined ? undefined : raw.charCodeAt(0) === 34 ? decodeString(raw) : JSON.parse(raw);
  }

  /** Replace a field's raw JSON (or add it at the end when absent); `undefined` removes it. */
  set(key: string, raw: string | undefined): void {
    if (this.member(key)) {
      if (!this.#overrides) this.#overrides = new Map();
      this.#overrides.set(key, raw);
      return;
    }
    const added = this.#added ?? [];
    this.#added = added;
    const at = added.findIndex(([k]) => k === key);
    if (raw === undefined) {
      if (at >= 0) added.splice(at, 1);
    } else if (at >= 0) added[at] = [key, raw];
    else added.push([key, raw]);
  }

  /** True when no step has changed the event: its line is the received text. */
  get pristine(): boolean {
    return this.#overrides === undefined && this.#added === undefined;
  }

  /** Changed fields, for the serialiser. */
  overrides(): ReadonlyMap<string, Override> | undefined {
    return this.#overrides;
  }

  added(): readonly (readonly [string, string])[] {
    return this.#added ?? [];
  }
}

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

/**
 * Where the top-level members of a body's events stand, for all of its events at once (one
 * growing pair of arrays, not an object per member): the keys, and three byte offsets each (key,
 * value start, value end).
 */
export class MemberTable {
  readonly keys: string[] = [];
  offsets: Int32Array;
  /** Members whose value may name a kind that carries credentials; see {@link AuditEvent.mayNameCredentialKind}. */
  #sighted: Set<number> | undefined;
  #view: DataView | undefined;

  /** `source`: the body whose members these are. */
  constructor(readonly source: Uint8Array) {
    // Room for one member per 64 bytes (an audit event's members average 50–60 bytes at the top
    // level, more with bodies), so that a batch's table is seldom grown; at most 16384 before
    // the members are seen, so that a large body does not reserve megabytes for them.
    this.offsets = new Int32Array(3 * Math.min(Math.max(64, source.length >> 6), 1 << 14));
  }

  /** The body's bytes as a DataView, made once, for reading them several at a time. */
  get view(): DataView {
    this.#view ??= new DataView(this.source.buffer, this.source.byteOffset, this.source.byteLength);
    return this.#view;
  }

  add(key: string, keyStart: number, valueStart: number, valueEnd: number): void {
    const at = 3 * this.keys.length;
    this.keys.push(key);
    let offsets = this.offsets;
    if (at + 3 > offsets.length) {
      offsets = new Int32Array(offsets.length * 2);
      offsets.set(this.offsets);
      this.offsets = offsets;
    }
    offsets[at] = keyStart;
    offsets[at + 1] = valueStart;
    offsets[at + 2] = valueEnd;
  }

  /** Note that the last member added may name a kind that carries credentials. */
  sightLast(): void {
    this.#sighted ??= new Set();
    this.#sighted.add(this.keys.length - 1);
  }

  sighted(index: number): boolean {
    return this.#sighted?.has(index) ?? false;
  }
}

/** One audit event as received; other fields than the identifying ones are read with `get` or `raw`. */
export class AuditEvent {
  /** Changed top-level fields, by key. */
  #overrides: Map<string, Override> | undefined;
  /** Fields added after the received ones, in order. */
  #added: [key: string, raw: string][] | undefined;
  #auditID: string | undefined;
  #verb: string | undefined;
  #requestURI: string | undefined;
  #members: Member[] | undefined;

  constructor(
    /** The UTF-8 bytes of the whole body the event came in (shared by its events; never changed). */
    readonly source: Uint8Array,
    /** Where the event's object starts and ends in `source`, in bytes. */
    readonly start: number,
    readonly end: number,
    /** The body's members; this event's are `count` of them from `first`. */
    readonly table: MemberTable,
    readonly first: number,
    readonly count: number,
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

  /** Top-level fields in the order received, at byte offsets of `source`. */
  get members(): readonly Member[] {
    if (this.#members === undefined) {
      const members: Member[] = [];
      for (let i = this.first; i < this.first + this.count; i++) members.push(this.#memberAt(i));
      this.#members = members;
    }
    return this.#members;
  }

  /** A required string field as received. */
  #string(key: string): string {
    const at = 3 * this.#indexOf(key);
    const offsets = this.table.offsets;
    return decodeString(decodeBytes(this.source, offsets[at + 1] as number, offsets[at + 2] as number));
  }

  /** The table index of the last member named `key` (JSON.parse keeps the last of duplicate keys too), or -1. */
  #indexOf(key: string): number {
    const keys = this.table.keys;
    for (let i = this.first + this.count - 1; i >= this.first; i--) if (keys[i] === key) return i;
    return -1;
  }

  #memberAt(i: number): Member {
    const offsets = this.table.offsets;
    return {
      key: this.table.keys[i] as string,
      keyStart: offsets[3 * i] as number,
      valueStart: offsets[3 * i + 1] as number,
      valueEnd: offsets[3 * i + 2] as number,
    };
  }

  /** The last member named `key` (JSON.parse keeps the last of duplicate keys too). */
  member(key: string): Member | undefined {
    const i = this.#indexOf(key);
    return i < 0 ? undefined : this.#memberAt(i);
  }

  /** The member named `key` as received, or undefined when absent or changed by a step. */
  original(key: string): Member | undefined {
    return this.#overrides?.has(key) ? undefined : this.member(key);
  }

  /** True if the event has the field, as received or added, and it was not removed. */
  has(key: string): boolean {
    if (this.#overrides?.has(key)) return this.#overrides.get(key) !== undefined;
    return this.#indexOf(key) >= 0 || !!this.#added?.some(([k]) => k === key);
  }

  /** The field's current raw JSON text, or undefined when absent. */
  raw(key: string): string | undefined {
    if (this.#overrides?.has(key)) return this.#overrides.get(key);
    const i = this.#indexOf(key);
    if (i >= 0) {
      const offsets = this.table.offsets;
      return decodeBytes(this.source, offsets[3 * i + 1] as number, offsets[3 * i + 2] as number);
    }
    return this.#added?.find(([k]) => k === key)?.[1];
  }

  /**
   * False when the field as received certainly holds no object of a kind that carries credentials
   * (`CREDENTIAL_KINDS`): the parse met no `kind` in it that is one, at any depth, nor a `\u`
   * escape that could spell one. True when it may, and for a field a step has set. Redaction
   * reads no other body.
   */
  mayNameCredentialKind(key: string): boolean {
    if (this.#overrides?.has(key)) return true;
    const i = this.#indexOf(key);
    return i < 0 ? !!this.#added?.some(([k]) => k === key) : this.table.sighted(i);
  }

  /** True when the field's current raw JSON text holds the ASCII `text`; searched in place, not decoded. */
  rawIncludes(key: string, text: string): boolean {
    const i = this.#overrides?.has(key) ? -1 : this.#indexOf(key);
    if (i < 0) return this.raw(key)?.includes(text) ?? false;
    const offsets = this.table.offsets;
    return indexOfAscii(this.source, text, offsets[3 * i + 1] as number, offsets[3 * i + 2] as number) !== -1;
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
    if (this.#indexOf(key) >= 0) {
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

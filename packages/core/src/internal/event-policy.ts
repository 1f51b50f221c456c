/**
 * @module
 * The policy step's view of an event: its PolicyRequest read from the event's text, and decisions
 * remembered by the received bytes they depend on.
 */
import type { AuditEvent } from '../event';
import type { PolicyChecker, PolicyDecision, PolicyRequest } from '../policy';
import { forEachString, userAt } from './fields';
import { decodeBytes, indexOfAscii } from './json-bytes';
import { requestNameOf } from './request-name';

export type EventChecker = (event: AuditEvent) => PolicyDecision;
/** Decisions remembered, at most; then the memory starts afresh. */
const DECISION_CACHE_SIZE = 16_384;
/** Longer keys (a user with large `extra` values) are not remembered. */
const MAX_KEY_LENGTH = 2048;

/**
 * The policy decision for an event. Audit streams repeat themselves (the same controllers list,
 * watch and renew the same objects all day), and a decision depends only on the verb, the path,
 * the objectRef and the user: events whose received bytes of those are the same get the same
 * decision, so it is looked up by those bytes (a hash, then the bytes compared) before anything
 * is decoded.
 */
export function createEventChecker(checker: PolicyChecker): EventChecker {
  const decisions = new Map<number, { key: Uint8Array; decision: PolicyDecision }>();
  const key = new KeyBuilder();
  return function decide(event) {
    const ref = event.original('objectRef');
    const user = event.original('user');
    const verb = event.original('verb');
    const uri = event.original('requestURI');
    const b = event.source;
    const request = () => {
      const target = ref ? decodeBytes(b, ref.valueStart, ref.valueEnd) : '';
      const userRaw = user ? decodeBytes(b, user.valueStart, user.valueEnd) : '';
      return new EventPolicyRequest(event, requestNameOf(event.requestURI, event.verb), target, userRaw);
    };
    if (!verb || !uri) return checker(request());
    // Everything the PolicyRequest is read from: the verb, the URL, the objectRef and the user.
    // The path always, even beside an objectRef: `"objectRef":null` is a non-resource request,
    // decided by its path (a None rule for /healthz must not decide a Secret read too). The name
    // the URL carried decides resourceNames (objectRef.name may come from the body): the path
    // holds it, or the query of a list or watch (a metadata.name field selector). Each part with
    // its length, so that no part can run into the next and make two requests one key. Parts are
    // raw JSON text: equal bytes decode to equal values (a `?` written as an escape only keeps a
    // query in the key, which costs a miss, never a wrong decision).
    let urlEnd = uri.valueEnd;
    const query = indexOfAscii(b, '?', uri.valueStart, uri.valueEnd);
    if (query !== -1) {
      const listOrWatch = isToken(b, verb, 'list') || isToken(b, verb, 'watch');
      if (!(ref && listOrWatch && indexOfAscii(b, 'fieldSelector', query, uri.valueEnd) !== -1)) urlEnd = query;
    }
    key.start();
    key.add(b, verb.valueStart, verb.valueEnd);
    key.add(b, uri.valueStart, urlEnd);
    if (ref) key.add(b, ref.valueStart, ref.valueEnd);
    else key.add(b, 0, 0);
    if (user) key.add(b, user.valueStart, user.valueEnd);
    if (key.length > MAX_KEY_LENGTH) return checker(request());
    const hash = key.hash();
    const known = decisions.get(hash);
    if (known !== undefined && key.equals(known.key)) return known.decision;
    const decision = checker(request());
    // A different key with the same hash (rare) is decided each time rather than remembered.
    if (known === undefined) {
      if (decisions.size >= DECISION_CACHE_SIZE) decisions.clear();
      decisions.set(hash, { key: key.copy(), decision });
    }
    return decision;
  };
}

/** The string token `m` is exactly `"text"` (ASCII). */
function isToken(b: Uint8Array, m: { valueStart: number; valueEnd: number }, text: string): boolean {
  return (
    m.valueEnd - m.valueStart === text.length + 2 && indexOfAscii(b, text, m.valueStart + 1, m.valueEnd - 1) !== -1
  );
}

/** A decision's key: parts of an event's bytes, each after its length, in one reused array. */
class KeyBuilder {
  #bytes = new Uint8Array(MAX_KEY_LENGTH + 64);
  length = 0;

  start(): void {
    this.length = 0;
  }

  add(b: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (this.length + 4 + n > this.#bytes.length) {
      this.length += 4 + n; // too long to remember: only the length counts now
      return;
    }
    const out = this.#bytes;
    let at = this.length;
    out[at++] = n & 0xff;
    out[at++] = (n >>> 8) & 0xff;
    out[at++] = (n >>> 16) & 0xff;
    out[at++] = n >>> 24;
    out.set(b.subarray(start, end), at);
    this.length = at + n;
  }

  /** A 53-bit hash of the key (two multiplicative lanes, then mixed). */
  hash(): number {
    const out = this.#bytes;
    let a = 0x811c9dc5;
    let h = 0x9e3779b9;
    let i = 0;
    for (; i + 1 < this.length; i += 2) {
      a = Math.imul(a ^ (out[i] as number), 0x01000193);
      h = Math.imul(h ^ (out[i + 1] as number), 0x5bd1e995);
    }
    if (i < this.length) a = Math.imul(a ^ (out[i] as number), 0x01000193);
    a ^= h ^ this.length;
    a = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35);
    return (a >>> 0) * 0x200000 + ((h ^ (h >>> 16)) & 0x1fffff);
  }

  equals(other: Uint8Array): boolean {
    if (other.length !== this.length) return false;
    const out = this.#bytes;
    for (let i = 0; i < other.length; i++) if (out[i] !== other[i]) return false;
    return true;
  }

  copy(): Uint8Array {
    return this.#bytes.slice(0, this.length);
  }
}

/**
 * An event's PolicyRequest, read from the raw text of its objectRef and user (as `policyRequestOf`
 * reads a decoded event), with the name resolved from its requestURI; the user is read only if a
 * rule asks for it, as most ask first for the verb and the resource.
 */
class EventPolicyRequest implements PolicyRequest {
  readonly verb: string;
  readonly resourceRequest: boolean = false;
  readonly path: string;
  namespace?: string;
  apiGroup?: string;
  resource?: string;
  subresource?: string;
  name?: string;
  readonly #userRaw: string;
  #user: PolicyRequest['user'] | undefined;
  #userRead = false;

  /** `ref` and `user`: the raw objectRef and user as received, `''` when absent. */
  constructor(event: AuditEvent, name: string, ref: string, user: string) {
    this.#userRaw = user;
    this.verb = event.verb;
    const query = event.requestURI.indexOf('?');
    this.path = query === -1 ? event.requestURI : event.requestURI.slice(0, query);
    if (ref.charCodeAt(0) === 123) {
      this.resourceRequest = true;
      this.namespace = '';
      this.resource = '';
      this.subresource = '';
      this.name = name;
      let apiGroup: string | undefined;
      let apiVersion: string | undefined;
      forEachString(ref, 0, (key, value) => {
        if (key === 'namespace') this.namespace = value;
        else if (key === 'resource') this.resource = value;
        else if (key === 'subresource') this.subresource = value;
        else if (key === 'apiGroup') apiGroup = value;
        else if (key === 'apiVersion') apiVersion = value;
      });
      // v1alpha1 has no apiGroup: its apiVersion is "group/version" ("v1" alone is the core group).
      const slash = apiVersion?.indexOf('/') ?? -1;
      this.apiGroup = apiGroup ?? (slash === -1 ? '' : apiVersion?.slice(0, slash));
    }
  }

  get user(): PolicyRequest['user'] {
    if (!this.#userRead) {
      this.#userRead = true;
      this.#user = this.#userRaw.charCodeAt(0) === 123 ? userAt(this.#userRaw, 0) : null;
    }
    return this.#user;
  }
}

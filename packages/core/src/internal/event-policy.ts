/**
 * @module
 * The policy step's view of an event: its PolicyRequest read in place from the event's text, and
 * decisions remembered by the raw text they depend on.
 */
import type { AuditEvent } from '../event';
import type { PolicyChecker, PolicyDecision, PolicyRequest } from '../policy';
import { forEachString, userAt } from './fields';
import { decodeBytes } from './json-bytes';
import { requestNameOf } from './request-name';

export type EventChecker = (event: AuditEvent) => PolicyDecision;
/** Decisions remembered, at most; then the memory starts afresh. */
const DECISION_CACHE_SIZE = 16_384;
/** Longer keys (a user with large `extra` values) are not remembered. */
const MAX_KEY_LENGTH = 2048;

/**
 * The policy decision for an event. Audit streams repeat themselves (the same controllers list,
 * watch and renew the same objects all day), and a decision depends only on the verb, the path,
 * the objectRef and the user: events whose raw text of those is the same get the same decision,
 * so it is looked up by that text before anything is decoded.
 */
export function createEventChecker(checker: PolicyChecker): EventChecker {
  const decisions = new Map<string, PolicyDecision>();
  return function decide(event) {
    const ref = event.original('objectRef');
    const user = event.original('user');
    // Everything the PolicyRequest is read from: the verb, the URL, the objectRef and the user.
    // The path always, even beside an objectRef: `"objectRef":null` is a non-resource request,
    // decided by its path (a None rule for /healthz must not decide a Secret read too). The name
    // the URL carried decides resourceNames (objectRef.name may come from the body): the path
    // holds it, or the query of a list or watch (a metadata.name field selector). Lengths first,
    // so that no verb, URL or objectRef can run into the next and make two requests one key.
    const uri = event.requestURI;
    const query = uri.indexOf('?');
    const keepsQuery = ref && (event.verb === 'list' || event.verb === 'watch') && uri.includes('fieldSelector', query);
    const url = query === -1 || keepsQuery ? uri : uri.slice(0, query);
    const target = ref ? decodeBytes(event.source, ref.valueStart, ref.valueEnd) : '';
    const userRaw = user ? decodeBytes(event.source, user.valueStart, user.valueEnd) : '';
    const key = `${event.verb.length}:${url.length}:${target.length}:${event.verb}${url}${target}${userRaw}`;
    const request = () => new EventPolicyRequest(event, requestNameOf(uri, event.verb), target, userRaw);
    if (key.length > MAX_KEY_LENGTH) return checker(request());
    let decision = decisions.get(key);
    if (decision === undefined) {
      decision = checker(request());
      if (decisions.size >= DECISION_CACHE_SIZE) decisions.clear();
      decisions.set(key, decision);
    }
    return decision;
  };
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

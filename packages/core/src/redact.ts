/**
 * @module
 * Redaction of credentials that audit events carry in their bodies: Secret values (the verbose
 * IKS policy logs Secret writes at RequestResponse), the last-applied annotation that repeats
 * them, and service-account tokens issued by TokenRequest or checked by TokenReview. Keys and
 * structure are kept so that events still say which Secret and which keys changed.
 */
import type { AuditEvent } from './event';
import { type Edit, KEEP, memberString, rewriteArray, rewriteObject } from './internal/raw-edit';

export const REDACTED = '"[REDACTED]"';
/** The annotation on an event whose credentials were redacted. */
export const REDACTED_ANNOTATION = 'kube-audit/redacted';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

export interface RedactOptions {
  /** Mask `command=` values in exec/attach request URIs. @default false */
  execCommands?: boolean;
}

/** Returns true when it changed the event. */
export type Redactor = (event: AuditEvent) => boolean;

/**
 * Compile the redaction rules once; the returned function is applied per event.
 *
 * @example
 * const redact = createRedactor({ execCommands: true });
 */
export function createRedactor(options: RedactOptions = {}): Redactor {
  return function redactEvent(event) {
    let changed = false;
    if (options.execCommands && event.requestURI.includes('?')) {
      const ref = event.raw('objectRef');
      const subresource = ref?.charCodeAt(0) === 123 ? memberString(ref, 'subresource') : undefined;
      const uri = maskCommands(event.requestURI, subresource === 'exec' || subresource === 'attach');
      if (uri !== event.requestURI) {
        event.requestURI = uri;
        event.set('requestURI', JSON.stringify(uri));
        changed = true;
      }
    }
    const request = event.compactRaw('requestObject');
    const response = event.compactRaw('responseObject');
    if (request === undefined && response === undefined) return changed;
    const target = targetOf(event);
    for (const [key, raw] of [
      ['requestObject', request],
      ['responseObject', response],
    ] as const) {
      if (raw === undefined) continue;
      const redacted = redactBody(raw, target);
      if (redacted !== raw) {
        event.set(key, redacted);
        changed = true;
      }
    }
    return changed;
  };
}

type Target = 'secret' | 'tokenrequest' | 'tokenreview' | undefined;

function targetOf(event: AuditEvent): Target {
  const ref = event.raw('objectRef');
  if (ref === undefined || ref.charCodeAt(0) !== 123) return undefined;
  const resource = memberString(ref, 'resource');
  const subresource = memberString(ref, 'subresource');
  if (resource === 'secrets' && !subresource) return 'secret';
  if (resource === 'serviceaccounts' && subresource === 'token') return 'tokenrequest';
  if (resource === 'tokenreviews') return 'tokenreview';
  return undefined;
}

/** Redact one body (an object, a list, or a json-patch array); the body's own kind counts too. */
function redactBody(raw: string, target: Target): string {
  if (raw.charCodeAt(0) === 91) return target === 'secret' ? redactSecretPatch(raw) : raw;
  if (raw.charCodeAt(0) !== 123) return raw;
  const kind = raw.includes('Secret') || raw.includes('Token') ? memberString(raw, 'kind') : undefined;
  if (target === 'secret' || kind === 'Secret' || kind === 'SecretList') {
    // A list (SecretList, or a deletecollection response) carries Secrets in items, without kind.
    return rewriteObject(raw, (key, value) =>
      key === 'items' ? rewriteArray(value, redactSecret) : isSecretField(key) ? redactSecretField(key, value) : KEEP,
    );
  }
  if (target === 'tokenrequest' || kind === 'TokenRequest') return redactPath(raw, 'status', 'token');
  if (target === 'tokenreview' || kind === 'TokenReview') return redactPath(raw, 'spec', 'token');
  return raw;
}

function isSecretField(key: string): boolean {
  return key === 'data' || key === 'stringData' || key === 'metadata';
}

function redactSecret(raw: string): Edit {
  return rewriteObject(raw, (key, value) => (isSecretField(key) ? redactSecretField(key, value) : KEEP));
}

function redactSecretField(key: string, value: string): Edit {
  if (key === 'metadata') return rewriteObject(value, (k, v) => (k === 'annotations' ? redactAnnotations(v) : KEEP));
  return redactValues(value);
}

/** Every value of an object becomes "[REDACTED]"; null stays null (it carries nothing). */
function redactValues(raw: string): Edit {
  return rewriteObject(raw, (_key, value) => (value === 'null' ? KEEP : REDACTED));
}

function redactAnnotations(raw: string): Edit {
  return rewriteObject(raw, (key) => (key === LAST_APPLIED ? REDACTED : KEEP));
}

function redactPath(raw: string, parent: string, key: string): string {
  return rewriteObject(raw, (k, v) => (k === parent ? rewriteObject(v, (kk) => (kk === key ? REDACTED : KEEP)) : KEEP));
}

/** json-patch ops on a Secret: values written under /data, /stringData or the last-applied annotation. */
function redactSecretPatch(raw: string): string {
  return rewriteArray(raw, (op) => {
    const path = memberString(op, 'path');
    if (path === undefined) return KEEP;
    return rewriteObject(op, (key, value) => {
      if (key !== 'value') return KEEP;
      if (path === '/data' || path === '/stringData') return redactValues(value);
      if (path.startsWith('/data/') || path.startsWith('/stringData/')) return REDACTED;
      if (path === `/metadata/annotations/${LAST_APPLIED.replace('/', '~1')}`) return REDACTED;
      if (path === '/metadata/annotations') return redactAnnotations(value);
      if (path === '/metadata') return redactSecretField('metadata', value);
      return KEEP;
    });
  });
}

/**
 * `command=` values of exec/attach URIs; the parameter names stay so the shape is visible. Names
 * are compared as the API server reads them: Go's `url.ParseQuery` (net/url url.go `parseQuery`)
 * splits at `&`, cuts each at the first `=` and decodes the name with `QueryUnescape` (`%XX`, and
 * `+` as a space), so `comm%61nd=` is a command too. The path is compared decoded as well
 * (`url.PathUnescape`), trailing slashes aside, as the RequestInfo resolver trims them.
 *
 * @example
 * maskExecCommands('/api/v1/namespaces/shop/pods/web-0/exec?command=sh&command=-c&stdin=true');
 * // → '/api/v1/namespaces/shop/pods/web-0/exec?command=[REDACTED]&command=[REDACTED]&stdin=true'
 */
export function maskExecCommands(uri: string): string {
  return maskCommands(uri, false);
}

/** `maskExecCommands`, for a URI known to be an exec or attach (its objectRef says so) whatever its path reads. */
function maskCommands(uri: string, isExec: boolean): string {
  const q = uri.indexOf('?');
  if (q < 0) return uri;
  const path = uri.slice(0, q);
  if (!isExec && !/\/(exec|attach)\/*$/.test(goUnescape(path, false) ?? path)) return uri;
  const query = uri
    .slice(q + 1)
    .split('&')
    .map((param) => {
      const eq = param.indexOf('=');
      if (eq < 0) return param;
      const name = param.slice(0, eq);
      return name === 'command' || goUnescape(name, true) === 'command' ? `${name}=[REDACTED]` : param;
    })
    .join('&');
  return `${path}?${query}`;
}

/**
 * Go's `unescape` (net/url url.go) for a query component (`+` is a space) or a path: `%` needs two
 * hex digits; undefined where Go returns an error (`parseQuery` then skips the parameter).
 */
function goUnescape(s: string, query: boolean): string | undefined {
  if (!s.includes('%') && !(query && s.includes('+'))) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '%') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return undefined;
      out += String.fromCharCode(Number.parseInt(hex, 16));
      i += 2;
    } else out += query && c === '+' ? ' ' : c;
  }
  return out;
}

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
    if (options.execCommands && event.requestURI.includes('command=')) {
      const uri = maskExecCommands(event.requestURI);
      if (uri !== event.requestURI) {
        event.requestURI = uri;
        event.set('requestURI', JSON.stringify(uri));
        changed = true;
      }
    }
    const request = event.compactRaw('requestObject');
    const response = event.compactRaw('responseObject');
    if (request === undefined && response === undefined) return changed;
    const target = targetOfRequest(event);
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

/**
 * What carries credentials: the objects a request can be on (its objectRef) or a body can be
 * (its `kind`), and how each is redacted. The only list of them: a row here is all a new one takes.
 */
interface RedactionTarget {
  /** objectRef.resource of requests on it. */
  readonly resource: string;
  /** objectRef.subresource of those requests: `''` for none, undefined for any. */
  readonly subresource: string | undefined;
  /** `kind` of bodies that are one, or a list of them. */
  readonly kinds: readonly string[];
  /** Redacts an object or list body. */
  readonly redactObject: (raw: string) => string;
  /** Redacts a json-patch body of a request on it; without it a patch is kept as it is. */
  readonly redactPatch?: (raw: string) => string;
}

const TARGETS: readonly RedactionTarget[] = [
  {
    resource: 'secrets',
    subresource: '',
    kinds: ['Secret', 'SecretList'],
    redactObject: redactSecretObject,
    redactPatch: redactSecretPatch,
  },
  {
    resource: 'serviceaccounts',
    subresource: 'token',
    kinds: ['TokenRequest'],
    redactObject: (raw) => redactPath(raw, 'status', 'token'),
  },
  {
    resource: 'tokenreviews',
    subresource: undefined,
    kinds: ['TokenReview'],
    redactObject: (raw) => redactPath(raw, 'spec', 'token'),
  },
];

const targetsByKind = new Map(TARGETS.flatMap((target) => target.kinds.map((kind) => [kind, target] as const)));
/**
 * A body can be of a target kind only if its text holds the kind as a JSON string, or an escape
 * that could spell one. One native search for these (built from the table; kinds are plain
 * identifiers) spares scanning every other body for its kind.
 */
const MAY_NAME_A_KIND = new RegExp(`"(?:${[...targetsByKind.keys()].join('|')})"|\\\\u`);

function targetOfRequest(event: AuditEvent): RedactionTarget | undefined {
  const ref = event.raw('objectRef');
  if (ref === undefined || ref.charCodeAt(0) !== 123) return undefined;
  const resource = memberString(ref, 'resource');
  const subresource = memberString(ref, 'subresource') ?? '';
  return TARGETS.find(
    (target) =>
      target.resource === resource && (target.subresource === undefined || target.subresource === subresource),
  );
}

function targetOfKind(raw: string): RedactionTarget | undefined {
  if (!MAY_NAME_A_KIND.test(raw)) return undefined;
  const kind = memberString(raw, 'kind');
  return kind === undefined ? undefined : targetsByKind.get(kind);
}

/** Redact one body (an object, a list, or a json-patch array); the body's own kind counts too. */
function redactBody(raw: string, target: RedactionTarget | undefined): string {
  if (raw.charCodeAt(0) === 91) return target?.redactPatch ? target.redactPatch(raw) : raw;
  if (raw.charCodeAt(0) !== 123) return raw;
  const byKind = targetOfKind(raw);
  // Both name a target: the first in the table's order wins.
  const chosen = TARGETS.find((t) => t === target || t === byKind);
  return chosen ? chosen.redactObject(raw) : raw;
}

/** A Secret, or a list of them (SecretList, or a deletecollection response), whose items have no kind. */
function redactSecretObject(raw: string): string {
  return rewriteObject(raw, (key, value) =>
    key === 'items' ? rewriteArray(value, redactSecret) : isSecretField(key) ? redactSecretField(key, value) : KEEP,
  );
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
 * `command=` values of exec/attach URIs; the parameter names stay so the shape is visible.
 *
 * @example
 * maskExecCommands('/api/v1/namespaces/shop/pods/web-0/exec?command=sh&command=-c&stdin=true');
 * // → '/api/v1/namespaces/shop/pods/web-0/exec?command=[REDACTED]&command=[REDACTED]&stdin=true'
 */
export function maskExecCommands(uri: string): string {
  const q = uri.indexOf('?');
  if (q < 0) return uri;
  const path = uri.slice(0, q);
  if (!/\/(exec|attach)$/.test(path)) return uri;
  const query = uri
    .slice(q + 1)
    .split('&')
    .map((param) => (param.startsWith('command=') ? 'command=[REDACTED]' : param))
    .join('&');
  return `${path}?${query}`;
}

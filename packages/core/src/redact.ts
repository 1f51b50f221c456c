/**
 * @module
 * Redaction of credentials that audit events carry in their bodies: Secret values (the verbose
 * IKS policy logs Secret writes at RequestResponse), the last-applied annotation that repeats
 * them, and service-account tokens issued by TokenRequest or checked by TokenReview. Keys and
 * structure are kept so that events still say which Secret and which keys changed.
 */
import type { AuditEvent } from './event';
import { decodeString, minify } from './internal/json-scan';
import { type Edit, KEEP, memberString, rewriteArray, rewriteObject } from './internal/raw-edit';
import { unescapeUrl } from './internal/request-name';

export const REDACTED = '"[REDACTED]"';
/** The annotation on an event whose credentials were redacted. */
export const REDACTED_ANNOTATION = 'kube-audit/redacted';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const BODIES = ['requestObject', 'responseObject'] as const;

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
    // A parameter name reads `command` only if it is spelled so or percent-encoded.
    const uri = options.execCommands ? event.requestURI : '';
    if (uri.includes('?') && (uri.includes('command') || uri.includes('%'))) {
      const ref = event.raw('objectRef');
      const subresource = ref?.charCodeAt(0) === 123 ? memberString(ref, 'subresource') : undefined;
      const masked = maskCommands(uri, subresource === 'exec' || subresource === 'attach');
      if (masked !== uri) {
        event.requestURI = masked;
        event.set('requestURI', JSON.stringify(masked));
        changed = true;
      }
    }
    const hasPatchAnnotation = event.rawIncludes('annotations', PATCH_ANNOTATION_PREFIX);
    if (!event.has('requestObject') && !event.has('responseObject') && !hasPatchAnnotation) return changed;
    const target = targetOf(event);
    for (const key of BODIES) {
      // A body of a request on no target that names no target kind is not even decoded.
      if (target === undefined && !event.mayNameCredentialKind(key)) continue;
      const raw = event.compactRaw(key);
      if (raw === undefined) continue;
      const redacted = redactBody(raw, target, 0);
      if (redacted !== raw) {
        event.set(key, redacted);
        changed = true;
      }
    }
    const annotations = hasPatchAnnotation && target !== undefined ? event.compactRaw('annotations') : undefined;
    if (annotations !== undefined && target !== undefined) {
      const redacted = rewriteObject(annotations, (key, value) =>
        key.startsWith(PATCH_ANNOTATION_PREFIX) ? redactPatchAnnotation(value, target) : KEEP,
      );
      if (redacted !== annotations) {
        event.set('annotations', redacted);
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
  /** Redacts an object, or a container of them, found `depth` containers deep. */
  readonly redactObject: (raw: string, depth: number) => string;
  /** Redacts the `value` of a json-patch op at `path` (not `""`) on it. */
  readonly redactPatchValue: (path: string, value: string) => Edit;
}

const TARGETS: readonly RedactionTarget[] = [
  {
    resource: 'secrets',
    subresource: '',
    kinds: ['Secret', 'SecretList'],
    redactObject: (raw, depth) => redactSecretObject(raw, depth),
    redactPatchValue: (path, value) => redactSecretPatchValue(path, value),
  },
  {
    resource: 'serviceaccounts',
    subresource: 'token',
    kinds: ['TokenRequest'],
    redactObject: (raw) => redactPath(raw, 'status', 'token'),
    redactPatchValue: (path, value) => redactPatchPath(path, value, 'status', 'token'),
  },
  {
    resource: 'tokenreviews',
    subresource: undefined,
    kinds: ['TokenReview'],
    redactObject: (raw) => redactPath(raw, 'spec', 'token'),
    redactPatchValue: (path, value) => redactPatchPath(path, value, 'spec', 'token'),
  },
];

const targetsByKind = new Map(TARGETS.flatMap((target) => target.kinds.map((kind) => [kind, target] as const)));
/** The kinds of objects that carry credentials (plain identifiers), from the table. */
export const CREDENTIAL_KINDS: readonly string[] = [...targetsByKind.keys()];
/**
 * A body can be, or hold, an object of a target kind only if its text holds the kind as a JSON
 * string, or an escape that could spell one. The parse notes, as it validates each body, whether
 * a `kind` in it is one (`mayNameCredentialKind`); for a body a step has set, one native search
 * for these spares scanning it for its kind.
 */
const MAY_NAME_A_KIND = new RegExp(`"(?:${CREDENTIAL_KINDS.join('|')})"|\\\\u`);

function targetOf(event: AuditEvent): RedactionTarget | undefined {
  const ref = event.raw('objectRef');
  if (ref === undefined || ref.charCodeAt(0) !== 123) return undefined;
  const resource = memberString(ref, 'resource');
  const subresource = memberString(ref, 'subresource') ?? '';
  return TARGETS.find(
    (target) =>
      target.resource === resource && (target.subresource === undefined || target.subresource === subresource),
  );
}

/**
 * Containers nest at most this deep in a real response (a watch event's object, a list's item, a
 * Table row's object); a body nested deeper is no API object and is not searched further.
 */
const MAX_CONTAINER_DEPTH = 4;

/**
 * Redact one body: an object, a list, a `Table`, a watch event or a json-patch array. The body's
 * own kind counts too, and so does the kind of each object a container holds. Containers, as
 * k8s.io/apimachinery pkg/apis/meta/v1 types.go defines them: a list's `items`; a `Table`'s
 * `rows[].object` (`TableRow.Object`, a full object or a PartialObjectMetadata whose annotations
 * still hold last-applied, per `includeObject`); a `WatchEvent`'s `object` (`{"type","object"}`).
 */
function redactBody(raw: string, target: RedactionTarget | undefined, depth: number): string {
  const first = raw.charCodeAt(0);
  if (first === 91) return target === undefined ? raw : redactPatch(raw, target);
  if (first !== 123) return raw;
  if (target) return target.redactObject(raw, depth);
  if (!MAY_NAME_A_KIND.test(raw)) return raw;
  const byKind = targetsByKind.get(memberString(raw, 'kind') ?? '');
  if (byKind) return byKind.redactObject(raw, depth);
  // A container of another kind (a List, a Table, a watch event) may still hold Secrets.
  if (depth >= MAX_CONTAINER_DEPTH) return raw;
  return rewriteObject(raw, (key, value) => redactContained(key, value, (v) => redactBody(v, undefined, depth + 1)));
}

/** The objects a container holds, each passed to `redact`; KEEP for any other member. */
function redactContained(key: string, value: string, redact: (raw: string) => string): Edit {
  if (key === 'items') return rewriteArray(value, redact);
  if (key === 'object') return redact(value);
  if (key === 'rows')
    return rewriteArray(value, (row) => rewriteObject(row, (k, v) => (k === 'object' ? redact(v) : KEEP)));
  return KEEP;
}

/** A Secret, or a container of Secrets (a SecretList, a `Table` of Secrets, a watch event). */
function redactSecretObject(raw: string, depth: number): string {
  return rewriteObject(raw, (key, value) => {
    if (isSecretField(key)) return redactSecretField(key, value);
    return depth >= MAX_CONTAINER_DEPTH ? KEEP : redactContained(key, value, (v) => redactSecretObject(v, depth + 1));
  });
}

function isSecretField(key: string): boolean {
  return key === 'data' || key === 'stringData' || key === 'metadata';
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

/**
 * json-patch ops (RFC 6902) on a Secret or a token: each `value` written where a credential sits,
 * and a whole object written at path `""` (RFC 6901: the whole document). `test` ops carry a value
 * too, so the op does not matter; `move` and `copy` carry none.
 */
function redactPatch(raw: string, target: RedactionTarget): string {
  return rewriteArray(raw, (op) => {
    const path = memberString(op, 'path');
    if (path === undefined) return KEEP;
    return rewriteObject(op, (key, value) => (key === 'value' ? redactPatchValue(path, value, target) : KEEP));
  });
}

function redactPatchValue(path: string, value: string, target: RedactionTarget): Edit {
  return path === '' ? redactBody(value, target, 0) : target.redactPatchValue(path, value);
}

/** A json-patch op's value on a Secret: its data, its annotations, or last-applied, which repeats them. */
function redactSecretPatchValue(path: string, value: string): Edit {
  if (path === '/data' || path === '/stringData') return redactValues(value);
  if (path.startsWith('/data/') || path.startsWith('/stringData/')) return REDACTED;
  if (path === `/metadata/annotations/${LAST_APPLIED.replace('/', '~1')}`) return REDACTED;
  if (path === '/metadata/annotations') return redactAnnotations(value);
  if (path === '/metadata') return redactSecretField('metadata', value);
  return KEEP;
}

function redactPatchPath(path: string, value: string, parent: string, key: string): Edit {
  if (path === `/${parent}/${key}`) return REDACTED;
  if (path === `/${parent}`) return rewriteObject(value, (k) => (k === key ? REDACTED : KEEP));
  return KEEP;
}

/**
 * The event annotation in which a mutating webhook's JSON patch is logged (k8s.io/apiserver
 * pkg/admission/plugin/webhook/mutating/dispatcher.go `PatchAuditAnnotationPrefix`, key
 * `round_<round>_index_<index>`): a JSON string `{"configuration","webhook","patch":[…],"patchType"}`
 * whose `patch` carries the values the webhook wrote.
 */
export const PATCH_ANNOTATION_PREFIX = 'patch.webhook.admission.k8s.io/';

/** The annotation with its patch's values redacted; all of it redacted when it cannot be read. */
function redactPatchAnnotation(raw: string, target: RedactionTarget): Edit {
  if (raw.charCodeAt(0) !== 34) return REDACTED;
  let json: string;
  try {
    const decoded = decodeString(raw);
    const parsed: unknown = JSON.parse(decoded);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return REDACTED;
    // Parsed only to check it; edited as text (compact, as the raw editor wants), numbers and all.
    json = minify(decoded, 0, decoded.length);
  } catch {
    return REDACTED;
  }
  const redacted = rewriteObject(json, (key, value) => (key === 'patch' ? redactPatch(value, target) : KEEP));
  return redacted === json ? KEEP : JSON.stringify(redacted);
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
  if (!isExec && !/\/(exec|attach)\/*$/.test(unescapeUrl(path, false) ?? path)) return uri;
  const query = uri
    .slice(q + 1)
    .split('&')
    .map((param) => {
      const eq = param.indexOf('=');
      if (eq < 0) return param;
      const name = param.slice(0, eq);
      return name === 'command' || unescapeUrl(name, true) === 'command' ? `${name}=[REDACTED]` : param;
    })
    .join('&');
  return `${path}?${query}`;
}

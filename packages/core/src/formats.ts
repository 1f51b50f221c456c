/**
 * @module
 * Audit events as managed clusters export them: EKS (CloudWatch Logs), AKS (diagnostic settings,
 * Log Analytics), GKE (Cloud Logging) and OpenShift (ClusterLogForwarder), besides the API
 * server's own Event, EventList and JSON lines. {@link unwrapRecords} finds the format of a line
 * or a document by its shape and returns the audit events inside, one per record: untouched
 * where the cloud kept the event as the API server wrote it, rebuilt where it did not (GKE, Log
 * Analytics tables; marked with the annotation `kube-audit/source`).
 *
 * Runtime-free like the rest of the core: gzip and base64 envelopes are for the caller to open.
 */
import { PayloadError } from './errors';
import type { AuditEvent } from './event';
import { decodeBytes, isValidUtf8 } from './internal/json-bytes';
import { elementsOf, JsonScanner, JsonSyntaxError, type Member, membersOf, skipWs } from './internal/json-scan';
import { NAMESPACE_SUBRESOURCES } from './internal/request-name';
import { type ParsedPayload, type ParseOptions, parsePayload } from './parse';
import { LEVELS } from './schema';
import { parseClusterName } from './settings';

/** The formats {@link unwrapRecords} reads; `kubernetes` is the API server's own (log file, webhook body). */
export const LOG_FORMATS = ['kubernetes', 'eks', 'aks', 'gke', 'openshift'] as const;
/** One of {@link LOG_FORMATS}. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The annotation marking an event rebuilt from a cloud's record (`gke`, `aks-log-analytics`). */
export const SOURCE_ANNOTATION = 'kube-audit/source';

/** AKS writes this string instead of an event (or a body) that is over its size limit. */
export const AKS_SKIPPED = 'skipped-too-big-size-object';

const formatNames: Readonly<Record<LogFormat, string>> = {
  kubernetes: 'Kubernetes audit event',
  eks: 'EKS (CloudWatch Logs)',
  aks: 'AKS (Azure Monitor)',
  gke: 'GKE (Cloud Logging)',
  openshift: 'OpenShift (ClusterLogForwarder)',
};

/** An audit event found in a record. */
export interface UnwrappedEvent {
  readonly event: AuditEvent;
  readonly format: LogFormat;
  /** The cluster the envelope names (EKS log group, AKS resource ID, GKE cluster_name, OpenShift cluster_id). */
  readonly cluster?: string;
  /** Where in the text, e.g. `logEvents[3].message`; `''` for the text itself. */
  readonly at: string;
}

/** A record that holds no audit event, and why (never its content: audit events can hold secrets). */
export interface UnwrapFailure {
  readonly event?: undefined;
  readonly format?: LogFormat;
  readonly reason: string;
  readonly at: string;
}

/** What {@link unwrapRecords} found in one record: an event, or why there is none. */
export type UnwrappedRecord = UnwrappedEvent | UnwrapFailure;

/** Options of {@link unwrapRecords}. */
export interface UnwrapOptions extends ParseOptions {
  /** Read every record as this format; a record of another shape is reported. @default detected per record */
  format?: LogFormat;
}

/** Keys an OpenShift collector adds to the event at the record's root (Vector, and Fluentd before it). */
const FORWARDER_KEYS: ReadonlySet<string> = new Set([
  '@timestamp',
  'hostname',
  'k8s_audit_level',
  'openshift_audit_level',
  'log_type',
  'log_source',
  'openshift',
  'source_type',
  'tag',
  'pipeline_metadata',
  'viaq_index_name',
  'viaq_msg_id',
  'kubernetes',
  'message',
  'file',
]);
/** The audit sources of a ClusterLogForwarder, named in messages (no other value of a record is). */
const OPENSHIFT_SOURCES = ['kubeAPI', 'openshiftAPI', 'ovn', 'auditd'] as const;
const FORWARDER_MARKS = ['log_type', 'k8s_audit_level', 'openshift_audit_level', 'viaq_msg_id', 'pipeline_metadata'];

/**
 * The audit events of one log line or one document, whatever the format, in order: one entry per
 * record (an EKS `logEvents` item, an AKS record, a GKE entry, an OpenShift record, an event).
 * The line may be text or its UTF-8 bytes; bytes that are not UTF-8 are one invalid record.
 *
 * @example
 * for (const record of unwrapRecords(line)) {
 *   if (record.event) events.push(record.event);
 *   else console.error(`${file}:${n}${record.at ? ` ${record.at}` : ''}: ${record.reason}`);
 * }
 */
export function unwrapRecords(input: string | Uint8Array, options: UnwrapOptions = {}): UnwrappedRecord[] {
  const forced = options.format;
  const out: UnwrappedRecord[] = [];
  // A log line of the API server is by far the most common input: one scan of its bytes.
  if (
    (forced === undefined || forced === 'kubernetes') &&
    (typeof input === 'string' ? input.charCodeAt(0) : input[0]) === 123
  ) {
    const event = singleEvent(input, options);
    if (event && (forced === 'kubernetes' || !isForwarded(event))) return [{ event, format: 'kubernetes', at: '' }];
  }
  if (typeof input !== 'string' && !isValidUtf8(input)) return [{ reason: 'not valid UTF-8', at: '' }];
  const text = typeof input === 'string' ? input : decodeBytes(input, 0, input.length);
  // A CloudWatch export to S3: each line is the event's timestamp, a space, the message.
  const exported = /^\d{4}-\d\d-\d\dT[0-9:.]+Z? /.exec(text);
  if (exported && (forced === undefined || forced === 'eks')) {
    message(text.slice(exported[0].length), 'eks', undefined, '', out, options);
    return out;
  }
  let values: [number, number][];
  try {
    values = topValues(text);
  } catch (error) {
    if (error instanceof JsonSyntaxError) return [{ reason: `not valid JSON: ${error.message}`, at: '' }];
    throw error;
  }
  // Several values in a row: Firehose writes the subscription payloads it delivers back to back.
  values.forEach(([start, end], index) => {
    const at = values.length > 1 ? `value ${index + 1}` : '';
    try {
      dispatch(text, start, end, at, out, options);
    } catch (error) {
      // A stack overflow in JSON.parse or JSON.stringify on a record nested past what they handle.
      if (!(error instanceof RangeError)) throw error;
      out.push({ reason: 'nested too deeply to read', at });
    }
  });
  return out;
}

/** Where each top-level JSON value of `text` stands. */
function topValues(text: string): [number, number][] {
  const scanner = JsonScanner.forDocument(text);
  const values: [number, number][] = [];
  let i = skipWs(text, text.charCodeAt(0) === 0xfeff ? 1 : 0);
  while (i < text.length) {
    // Objects or arrays back to back, as Firehose concatenates payloads; anything else after a value is an error.
    const c = text.charCodeAt(i);
    if (values.length > 0 && c !== 123 && c !== 91)
      throw new JsonSyntaxError('unexpected data after the JSON value', i);
    const end = scanner.skipValue(text, i);
    values.push([i, end]);
    i = skipWs(text, end);
  }
  return values;
}

function singleEvent(input: string | Uint8Array, options: ParseOptions): AuditEvent | undefined {
  try {
    const parsed = parsePayload(input, options);
    return parsed.shape === 'Event' ? parsed.events[0] : undefined;
  } catch (error) {
    if (error instanceof PayloadError) return undefined;
    throw error;
  }
}

/**
 * True when an event carries the keys a log forwarder adds (an OpenShift record), which
 * {@link unwrapRecords} reads as a record rather than as an event.
 *
 * @internal
 */
export function isForwarded(event: AuditEvent): boolean {
  return FORWARDER_MARKS.some((key) => event.member(key) !== undefined);
}

function join(at: string, path: string): string {
  return at === '' ? path : path.startsWith('[') ? `${at}${path}` : `${at}.${path}`;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The shape a record has, by the keys only its format uses. */
function detect(value: Json): LogFormat | undefined {
  if (FORWARDER_MARKS.some((key) => key in value)) return 'openshift';
  if (value.kind === 'EventList' || Array.isArray(value.items) || 'auditID' in value) return 'kubernetes';
  if ('protoPayload' in value) return 'gke';
  if (Array.isArray(value.logEvents) || 'messageType' in value) return 'eks';
  if (Array.isArray(value.events) || Array.isArray(value.results)) return 'eks';
  if (
    typeof value.message === 'string' &&
    ('logStreamName' in value || 'ingestionTime' in value || 'timestamp' in value)
  )
    return 'eks';
  if (Array.isArray(value.records) || isObject(value.properties) || 'log_s' in value || 'AuditId' in value)
    return 'aks';
  return undefined;
}

function dispatch(s: string, start: number, end: number, at: string, out: UnwrappedRecord[], options: UnwrapOptions) {
  const forced = options.format;
  const c = s.charCodeAt(start);
  if (c === 91) {
    // An array of events (a webhook body) is the API server's own; an array of anything else
    // (`gcloud logging read --format=json`, a Log Analytics export) is read item by item.
    if (forced === undefined || forced === 'kubernetes') {
      const parsed = tryParse(s.slice(start, end), options);
      if (parsed && (forced === 'kubernetes' || (parsed.invalid.length === 0 && !parsed.events.some(isForwarded)))) {
        addParsed(parsed, 'kubernetes', undefined, at, out);
        return;
      }
    }
    elementsOf(s, start).forEach(([from, to], index) => {
      dispatch(s, from, to, join(at, `[${index}]`), out, options);
    });
    return;
  }
  if (c !== 123) {
    out.push({ reason: 'not an object', at });
    return;
  }
  const value = JSON.parse(s.slice(start, end)) as Json;
  const format = detect(value);
  if (forced !== undefined && format !== forced && !(forced === 'kubernetes' && format === undefined)) {
    out.push({
      reason: `not ${article(forced)} ${formatNames[forced]} record${format ? ` (it looks like ${formatNames[format]})` : ''}`,
      at,
    });
    return;
  }
  switch (format) {
    case 'eks':
      return eks(value, at, out, options);
    case 'aks':
      return aks(value, s, start, at, out, options);
    case 'gke':
      return gke(value, at, out, options);
    case 'openshift':
      return openshift(value, s, start, at, out, options);
    case 'kubernetes':
      return kubernetes(s.slice(start, end), at, out, options);
    default:
      // An object with some of an event's fields gets the parser's reason (`missing auditID`).
      if (['kind', 'apiVersion', 'level', 'auditID', 'stage', 'verb', 'requestURI'].some((key) => key in value))
        return kubernetes(s.slice(start, end), at, out, options);
      out.push({ reason: 'not an audit event, nor an EKS, AKS, GKE or OpenShift audit record', at });
  }
}

function article(format: LogFormat): string {
  return format === 'eks' || format === 'aks' || format === 'openshift' ? 'an' : 'a';
}

function tryParse(text: string, options: ParseOptions): ParsedPayload | undefined {
  try {
    return parsePayload(text, options);
  } catch (error) {
    if (error instanceof PayloadError) return undefined;
    throw error;
  }
}

function addParsed(
  parsed: ParsedPayload,
  format: LogFormat,
  cluster: string | undefined,
  at: string,
  out: UnwrappedRecord[],
) {
  // The name comes from the record: only one the receiver would take as CLUSTER_NAME is kept.
  if (cluster !== undefined && !isClusterName(cluster)) cluster = undefined;
  // Events and invalid items back in the order of the body.
  const byIndex: UnwrappedRecord[] = [];
  let e = 0;
  const invalid = new Map(parsed.invalid.map((item) => [item.index, item]));
  for (let index = 0; index < parsed.received; index++) {
    const item = invalid.get(index);
    const where =
      parsed.shape === 'Event' ? at : join(at, parsed.shape === 'EventList' ? `items[${index}]` : `[${index}]`);
    if (item) byIndex.push({ format, reason: item.reason, at: where });
    else {
      const event = parsed.events[e++] as AuditEvent;
      byIndex.push(cluster === undefined ? { event, format, at: where } : { event, format, cluster, at: where });
    }
  }
  for (const record of byIndex) out.push(record);
}

/** A name the receiver would take as CLUSTER_NAME (`parseClusterName`). */
function isClusterName(name: string): boolean {
  try {
    parseClusterName(name);
    return true;
  } catch {
    return false;
  }
}

function kubernetes(text: string, at: string, out: UnwrappedRecord[], options: ParseOptions) {
  try {
    addParsed(parsePayload(text, options), 'kubernetes', undefined, at, out);
  } catch (error) {
    if (!(error instanceof PayloadError)) throw error;
    out.push({ format: 'kubernetes', reason: error.message.replace(/^body (is )?/, ''), at });
  }
}

/** An event kept as a JSON string by the cloud (EKS `message`, AKS `properties.log`). */
function message(
  text: unknown,
  format: LogFormat,
  cluster: string | undefined,
  at: string,
  out: UnwrappedRecord[],
  options: ParseOptions,
) {
  if (typeof text !== 'string') {
    out.push({ format, reason: 'no event: the message is missing or not a string', at });
    return;
  }
  if (text === AKS_SKIPPED) {
    out.push({ format, reason: `no event: AKS left it out of the export (${AKS_SKIPPED})`, at });
    return;
  }
  let parsed: ParsedPayload;
  try {
    parsed = parsePayload(text, options);
  } catch (error) {
    if (!(error instanceof PayloadError)) throw error;
    out.push({ format, reason: `the message is not an audit event: ${error.message.replace(/^body (is )?/, '')}`, at });
    return;
  }
  addParsed(parsed, format, cluster, at, out);
}

// EKS ----------------------------------------------------------------------------------------

/** The cluster of an EKS control-plane log group, `/aws/eks/<cluster>/cluster`. */
function eksCluster(logGroup: unknown): string | undefined {
  return typeof logGroup === 'string' ? /(?:^|:)\/aws\/eks\/([^/]+)\/cluster$/.exec(logGroup)?.[1] : undefined;
}

function eks(value: Json, at: string, out: UnwrappedRecord[], options: ParseOptions) {
  if (Array.isArray(value.logEvents) || 'messageType' in value) {
    // A subscription filter's payload; CONTROL_MESSAGE is CloudWatch checking the destination.
    if (value.messageType === 'CONTROL_MESSAGE') return;
    const cluster = eksCluster(value.logGroup);
    if (!Array.isArray(value.logEvents)) {
      out.push({ format: 'eks', reason: 'subscription payload without logEvents', at });
      return;
    }
    value.logEvents.forEach((item: unknown, index) => {
      const where = join(at, `logEvents[${index}].message`);
      message(isObject(item) ? item.message : undefined, 'eks', cluster, where, out, options);
    });
    return;
  }
  if (Array.isArray(value.events)) {
    // `aws logs filter-log-events` / `get-log-events` output.
    value.events.forEach((item: unknown, index) => {
      const where = join(at, `events[${index}].message`);
      message(isObject(item) ? item.message : undefined, 'eks', undefined, where, out, options);
    });
    return;
  }
  if (Array.isArray(value.results)) {
    // `aws logs get-query-results` (Logs Insights): rows of {field, value}.
    value.results.forEach((row: unknown, index) => {
      const fields = Array.isArray(row) ? row.filter(isObject) : [];
      const field = (name: string) => fields.find((f) => f.field === name)?.value;
      message(field('@message'), 'eks', eksCluster(field('@log')), join(at, `results[${index}]`), out, options);
    });
    return;
  }
  message(value.message, 'eks', eksCluster(value.logGroupName), join(at, 'message'), out, options);
}

// AKS ----------------------------------------------------------------------------------------

const AKS_CATEGORIES: ReadonlySet<string> = new Set(['kube-audit', 'kube-audit-admin']);

/** The cluster of an Azure resource ID, `…/providers/Microsoft.ContainerService/managedClusters/<name>`. */
function aksCluster(resourceId: unknown): string | undefined {
  return typeof resourceId === 'string' ? /\/managedclusters\/([^/]+)/i.exec(resourceId)?.[1] : undefined;
}

/** The member `key` of the object at `start`, or undefined. */
function memberOf(s: string, start: number, key: string): Member | undefined {
  const members = membersOf(s, start);
  for (let i = members.length - 1; i >= 0; i--) if ((members[i] as Member).key === key) return members[i];
  return undefined;
}

function aks(value: Json, s: string, start: number, at: string, out: UnwrappedRecord[], options: UnwrapOptions) {
  if (Array.isArray(value.records)) {
    // An Event Hub body: records of any category, each read on its own.
    const records = memberOf(s, start, 'records') as Member;
    elementsOf(s, records.valueStart).forEach(([from, to], index) => {
      dispatch(s, from, to, join(at, `records[${index}]`), out, options);
    });
    return;
  }
  const cluster = aksCluster(value.resourceId ?? value._ResourceId ?? value.ResourceId);
  const category = value.category ?? value.Category;
  if (typeof category === 'string' && !AKS_CATEGORIES.has(category)) {
    out.push({ format: 'aks', reason: 'an AKS log of another category than kube-audit or kube-audit-admin', at });
    return;
  }
  if ('AuditId' in value) return aksLogAnalytics(value, cluster, at, out, options);
  if ('log_s' in value) return message(value.log_s, 'aks', cluster, join(at, 'log_s'), out, options);
  const properties = value.properties;
  if (!isObject(properties) || !('log' in properties)) {
    out.push({ format: 'aks', reason: 'an AKS record without properties.log', at });
    return;
  }
  const where = join(at, 'properties.log');
  if (!isObject(properties.log)) return message(properties.log, 'aks', cluster, where, out, options);
  // Some pipelines have parsed the event already: take its text as it stands in the record.
  const props = memberOf(s, start, 'properties') as Member;
  const log = memberOf(s, props.valueStart, 'log') as Member;
  message(s.slice(log.valueStart, log.valueEnd), 'aks', cluster, where, out, options);
}

/** Log Analytics tables AKSAudit / AKSAuditAdmin: the event's fields as PascalCase columns. */
const AKS_COLUMNS: readonly [column: string, field: string][] = [
  ['Level', 'level'],
  ['AuditId', 'auditID'],
  ['Stage', 'stage'],
  ['RequestUri', 'requestURI'],
  ['Verb', 'verb'],
  ['User', 'user'],
  ['ImpersonatedUser', 'impersonatedUser'],
  ['SourceIps', 'sourceIPs'],
  ['UserAgent', 'userAgent'],
  ['ObjectRef', 'objectRef'],
  ['ResponseStatus', 'responseStatus'],
  ['RequestObject', 'requestObject'],
  ['ResponseObject', 'responseObject'],
  ['RequestReceivedTime', 'requestReceivedTimestamp'],
  ['StageReceivedTime', 'stageTimestamp'],
  ['Annotations', 'annotations'],
];
const DYNAMIC_COLUMNS: ReadonlySet<string> = new Set([
  'User',
  'ImpersonatedUser',
  'SourceIps',
  'ObjectRef',
  'ResponseStatus',
  'RequestObject',
  'ResponseObject',
  'Annotations',
]);

function aksLogAnalytics(
  row: Json,
  cluster: string | undefined,
  at: string,
  out: UnwrappedRecord[],
  options: ParseOptions,
) {
  const event: Json = { kind: 'Event', apiVersion: 'audit.k8s.io/v1' };
  for (const [column, field] of AKS_COLUMNS) {
    let value = row[column];
    if (value === undefined || value === null || value === '') continue;
    // Exports (CSV, the portal's JSON) carry dynamic columns as JSON text.
    if (DYNAMIC_COLUMNS.has(column) && typeof value === 'string' && /^\s*[[{]/.test(value)) {
      try {
        // Validated first: the scanner caps the nesting, which JSON.stringify below would not survive.
        const scanner = JsonScanner.forDocument(value);
        if (skipWs(value, scanner.skipValue(value, skipWs(value, 0))) === value.length) value = JSON.parse(value);
      } catch {
        // Kept as the string it is; the parser reports it if the field must be an object.
      }
    }
    event[field] = value;
  }
  event.annotations = {
    ...(isObject(event.annotations) ? event.annotations : {}),
    [SOURCE_ANNOTATION]: 'aks-log-analytics',
  };
  const before = out.length;
  message(JSON.stringify(event), 'aks', cluster, at, out, options);
  for (let i = before; i < out.length; i++) {
    const record = out[i] as UnwrappedRecord;
    if (!record.event)
      out[i] = { ...record, reason: record.reason.replace('the message is not an audit event: ', 'row: ') };
  }
}

// GKE ----------------------------------------------------------------------------------------

/** google.rpc.Code → HTTP status, as google/rpc/code.proto documents each code. */
const HTTP_OF_RPC: readonly number[] = [
  200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401,
];

/**
 * The request path and object reference of a GKE `resourceName`: `core/v1/namespaces/ns/pods/p`
 * for a resource (`core` is the legacy `/api` group), anything else (`readyz`, `api/v1`) for a
 * non-resource request. Namespaces, names and subresources are told apart as the API server's
 * RequestInfoFactory does.
 *
 * @example
 * gkeRequestOf('core/v1/namespaces/shop/pods/web-0/exec');
 * // { requestURI: '/api/v1/namespaces/shop/pods/web-0/exec',
 * //   objectRef: { resource: 'pods', namespace: 'shop', name: 'web-0', apiVersion: 'v1', subresource: 'exec' } }
 */
export function gkeRequestOf(resourceName: string): { requestURI: string; objectRef?: Json } {
  const parts = resourceName.split('/');
  if (parts.length < 3 || !/^v\d+((alpha|beta)\d+)?$/.test(parts[1] as string) || parts[0] === '') {
    return { requestURI: `/${resourceName}` };
  }
  const [group, version] = parts as [string, string];
  const requestURI = `${group === 'core' ? '/api' : `/apis/${group}`}/${parts.slice(1).join('/')}`;
  let rest = parts.slice(2);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1];
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2] as string)) rest = rest.slice(2);
  }
  const objectRef: Json = { resource: rest[0] };
  if (namespace !== undefined) objectRef.namespace = namespace;
  if (rest.length >= 2) objectRef.name = rest[1];
  if (group !== 'core') objectRef.apiGroup = group;
  objectRef.apiVersion = version;
  if (rest.length >= 3) objectRef.subresource = rest[2];
  return { requestURI, objectRef };
}

function withoutType(body: unknown): unknown {
  if (!isObject(body)) return body;
  const { '@type': _type, ...rest } = body;
  return rest;
}

function gke(entry: Json, at: string, out: UnwrappedRecord[], options: ParseOptions) {
  const payload = entry.protoPayload;
  const type = isObject(payload) ? str(payload['@type']) : undefined;
  if (!isObject(payload) || !type?.endsWith('google.cloud.audit.AuditLog')) {
    out.push({ format: 'gke', reason: 'a Cloud Logging entry whose protoPayload is not an AuditLog', at });
    return;
  }
  if (payload.serviceName !== 'k8s.io') {
    out.push({ format: 'gke', reason: 'a Cloud Audit Logs entry of another service than Kubernetes (k8s.io)', at });
    return;
  }
  const operation = isObject(entry.operation) ? entry.operation : {};
  // operation.id is the request's audit ID, shared by the entries of a long request; insertId is the entry's own.
  const auditID = str(operation.id) ?? str(entry.insertId);
  const method = str(payload.methodName);
  if (auditID === undefined || method === undefined) {
    out.push({
      format: 'gke',
      reason: `a k8s.io entry without ${auditID === undefined ? 'insertId or operation.id' : 'methodName'}`,
      at,
    });
    return;
  }
  const { requestURI, objectRef } = gkeRequestOf(str(payload.resourceName) ?? '');
  const authentication = isObject(payload.authenticationInfo) ? payload.authenticationInfo : {};
  const metadata = isObject(payload.requestMetadata) ? payload.requestMetadata : {};
  const status = isObject(payload.status) ? payload.status : {};
  const rpc = typeof status.code === 'number' ? status.code : 0;
  const responseStatus: Json = { code: HTTP_OF_RPC[rpc] ?? 500 };
  if (rpc !== 0) responseStatus.status = 'Failure';
  if (str(status.message)) responseStatus.message = status.message;

  const annotations: Json = {};
  if (isObject(entry.labels))
    for (const [k, v] of Object.entries(entry.labels)) if (typeof v === 'string') annotations[k] = v;
  const authorization = Array.isArray(payload.authorizationInfo) ? payload.authorizationInfo.filter(isObject) : [];
  if (!('authorization.k8s.io/decision' in annotations) && authorization.length > 0) {
    annotations['authorization.k8s.io/decision'] = authorization.every((a) => a.granted === true) ? 'allow' : 'forbid';
  }
  annotations[SOURCE_ANNOTATION] = 'gke';

  const event: Json = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: payload.response !== undefined ? 'RequestResponse' : payload.request !== undefined ? 'Request' : 'Metadata',
    auditID,
    stage: operation.first === true && operation.last === false ? 'ResponseStarted' : 'ResponseComplete',
    requestURI,
    verb: method.slice(method.lastIndexOf('.') + 1),
    user: str(authentication.principalEmail) ? { username: authentication.principalEmail } : {},
  };
  if (str(metadata.callerIp)) event.sourceIPs = [metadata.callerIp];
  if (str(metadata.callerSuppliedUserAgent)) event.userAgent = metadata.callerSuppliedUserAgent;
  if (objectRef) event.objectRef = objectRef;
  event.responseStatus = responseStatus;
  if (payload.request !== undefined) event.requestObject = withoutType(payload.request);
  if (payload.response !== undefined) event.responseObject = withoutType(payload.response);
  const time = str(entry.timestamp) ?? str(entry.receiveTimestamp);
  if (time) {
    event.requestReceivedTimestamp = time;
    event.stageTimestamp = time;
  }
  event.annotations = annotations;
  const resource = isObject(entry.resource) && isObject(entry.resource.labels) ? entry.resource.labels : {};
  const before = out.length;
  message(JSON.stringify(event), 'gke', str(resource.cluster_name), at, out, options);
  for (let i = before; i < out.length; i++) {
    const record = out[i] as UnwrappedRecord;
    if (!record.event)
      out[i] = { ...record, reason: record.reason.replace('the message is not an audit event: ', 'entry: ') };
  }
}

// OpenShift ----------------------------------------------------------------------------------

function openshift(value: Json, s: string, start: number, at: string, out: UnwrappedRecord[], options: ParseOptions) {
  if (!('auditID' in value)) {
    const source = OPENSHIFT_SOURCES.find((known) => known === value.log_source);
    out.push({
      format: 'openshift',
      reason: `an OpenShift ${source ? `${source} ` : ''}audit record, not a Kubernetes audit event`,
      at,
    });
    return;
  }
  // The event is the record's root: keep its members as they stand, without the collector's.
  const v1 = value.apiVersion === 'audit.k8s.io/v1';
  const kept = membersOf(s, start).filter((m) => !FORWARDER_KEYS.has(m.key) && !(v1 && m.key === 'timestamp'));
  const level = str(value.k8s_audit_level) ?? str(value.openshift_audit_level);
  const restore = !(LEVELS as readonly unknown[]).includes(value.level) && level !== undefined;
  const parts = kept.map((m) =>
    restore && m.key === 'level' ? `"level":${JSON.stringify(level)}` : s.slice(m.keyStart, m.valueEnd),
  );
  if (restore && !kept.some((m) => m.key === 'level')) parts.push(`"level":${JSON.stringify(level)}`);
  const text = `{${parts.join(',')}}`;
  const cluster = isObject(value.openshift) ? str(value.openshift.cluster_id) : undefined;
  message(text, 'openshift', cluster, at, out, options);
  const last = out[out.length - 1];
  if (last && !last.event)
    out[out.length - 1] = { ...last, reason: last.reason.replace('the message is not an audit event: ', '') };
}

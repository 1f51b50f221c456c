/**
 * @module
 * The event pipeline shared by the receiver, the CLI and any other tool: policy, redaction,
 * dedupe, enrichment, truncation, serialisation, in that order. Options are compiled once; each
 * step costs nothing for an event it does not apply to, and an event no step changes is written
 * exactly as received.
 */

import { createDedupe, type Dedupe } from './dedupe';
import type { AuditEvent } from './event';
import { createEventChecker, type EventChecker } from './internal/event-policy';
import { decodeBytes, utf8Encoder } from './internal/json-bytes';
import { KEEP, memberString, rewriteArray, rewriteObject, withStrings } from './internal/raw-edit';
import type { ParsedPayload } from './parse';
import { createPolicyChecker } from './policy';
import { createRedactor, PATCH_ANNOTATION_PREFIX, REDACTED_ANNOTATION, type Redactor } from './redact';
import type { Level, Policy } from './schema';
import { LineWriter, prefixOf, serializeEvent } from './serialize';
import { cutDown, dropBodies, exceeds, MIN_MAX_EVENT_BYTES } from './truncate';

/** The annotation naming the cluster an event came from (the `cluster` option). */
export const CLUSTER_ANNOTATION = 'kube-audit/cluster';
/** The default line-size cap: 256 KiB, Loki's default line limit. */
export const DEFAULT_MAX_EVENT_BYTES = 262_144;
/** The default number of recent events the dedupe step remembers. */
export const DEFAULT_DEDUPE_CACHE_SIZE = 10_000;
/** Bytes per piece of `BatchResult.chunks`. */
const CHUNK_BYTES = 1 << 20;
/** What a line adds to an untyped event's bytes: `{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1"`, `,` and a newline. */
const LINE_PREFIX_BYTES = 64;

/** Options of {@link createPipeline}, compiled once. */
export interface PipelineOptions {
  /** A receiver-side audit Policy (see `parsePolicy`); it can only lower detail. @default none */
  policy?: Policy;
  /** Redact Secret values and tokens. @default true */
  redact?: boolean;
  /** Also mask `command=` values of exec/attach URIs. @default false */
  redactExecCommands?: boolean;
  /** Recent events remembered (by their received bytes) to drop retries; 0 turns dedupe off. @default 10000 */
  dedupeCacheSize?: number;
  /** Cluster name added as the `kube-audit/cluster` annotation. @default none */
  cluster?: string;
  /** Line-size cap in bytes, the newline included; 0 = none, else at least 512. @default 262144 */
  maxEventBytes?: number;
}

/** Settings of one batch for {@link Pipeline.process}. */
export interface BatchContext {
  /** Overrides `PipelineOptions.cluster` for this batch (the receiver's `/audit/:cluster`). */
  cluster?: string;
  /**
   * Memory to write the lines into: the first piece of `chunks` is a view of it (more pieces are
   * new arrays when it fills up). Its bytes are overwritten, so pass the same array again only
   * once the previous result's chunks are written. @default a new array per batch
   */
  output?: Uint8Array;
}

/** The lines and the counts of one batch. */
export interface BatchResult {
  /**
   * The lines as UTF-8 bytes, each `\n`-terminated, in pieces of about 1 MiB (whole lines each):
   * what to write, piece by piece.
   */
  readonly chunks: readonly Uint8Array[];
  /** The same lines as one string (decoded when read); `''` when there are none. */
  readonly lines: string;
  readonly received: number;
  readonly written: number;
  readonly dropped: { readonly policy: number; readonly duplicate: number };
  readonly invalid: number;
  /** Events over `maxEventBytes`: their bodies dropped (at level Request and above), or cut down. */
  readonly truncated: number;
  /** Of those, events still too long without bodies, cut down to who did what (`kube-audit/cut`). */
  readonly cut: number;
  readonly redacted: number;
  /** The events written, in order (for `release`, or for tools that want them). */
  readonly events: readonly AuditEvent[];
}

/** A compiled pipeline; keep one per stream of batches, as it holds the dedupe cache. */
export interface Pipeline {
  /** Run the pipeline over a parsed body, or any events. */
  process(
    payload: ParsedPayload | { events: readonly AuditEvent[]; invalid?: readonly unknown[]; invalidCount?: number },
    context?: BatchContext,
  ): BatchResult;
  /**
   * Forget the batch's events in the dedupe cache. Call it when its lines could not be written,
   * so that the API server's retry of the same batch is not dropped as a duplicate.
   */
  release(result: BatchResult): void;
}

const rank: Readonly<Record<Level, number>> = { None: 0, Metadata: 1, Request: 2, RequestResponse: 3 };

/**
 * Compile the options into a pipeline.
 *
 * @example
 * const pipeline = createPipeline({ policy: parsePolicy(policyYaml).policy, cluster: 'prod-eu' });
 * const result = pipeline.process(parsePayload(body));
 * process.stdout.write(result.lines);
 */
export function createPipeline(options: PipelineOptions = {}): Pipeline {
  const checker = options.policy && createEventChecker(createPolicyChecker(options.policy));
  const redactor: Redactor | undefined =
    options.redact === false ? undefined : createRedactor({ execCommands: !!options.redactExecCommands });
  const dedupeSize = options.dedupeCacheSize ?? DEFAULT_DEDUPE_CACHE_SIZE;
  const dedupe: Dedupe | undefined = dedupeSize > 0 ? createDedupe(dedupeSize) : undefined;
  const maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  if (!(maxEventBytes === 0 || (Number.isInteger(maxEventBytes) && maxEventBytes >= MIN_MAX_EVENT_BYTES)))
    throw new RangeError(`maxEventBytes must be 0 (no cap) or a whole number ≥ ${MIN_MAX_EVENT_BYTES}`);

  return {
    process(payload, context = {}) {
      const cluster = context.cluster ?? options.cluster;
      // A parsed body counts the invalid items it did not keep (ParseOptions.maxInvalidItems).
      const invalidCount = payload.invalidCount ?? payload.invalid?.length ?? 0;
      const clusterAnnotation = cluster ? { [CLUSTER_ANNOTATION]: cluster } : undefined;
      const written: AuditEvent[] = [];
      const events = payload.events;
      // The first piece sized for the batch: an unchanged event's line is its bytes and the prefix.
      const out = new LineWriter(CHUNK_BYTES, context.output ?? expectedBytes(events));
      let policyDropped = 0;
      let duplicates = 0;
      let truncated = 0;
      let cut = 0;
      let redacted = 0;
      for (const event of events) {
        if (checker && !applyPolicy(checker, event)) {
          policyDropped++;
          continue;
        }
        const wasRedacted = redactor?.(event) ?? false;
        if (wasRedacted) {
          event.set('annotations', withStrings(event.compactRaw('annotations'), { [REDACTED_ANNOTATION]: 'true' }));
        }
        if (dedupe?.seen(event)) {
          duplicates++;
          continue;
        }
        // Counted for written events only, so a retried batch does not count its Secrets twice.
        if (wasRedacted) redacted++;
        if (clusterAnnotation)
          event.set('annotations', withStrings(event.compactRaw('annotations'), clusterAnnotation));
        written.push(event);
        // An unchanged event that fits is copied from the bytes it came in.
        if (out.copy(event, maxEventBytes)) continue;
        let line = utf8Encoder.encode(serializeEvent(event));
        if (exceeds(line, maxEventBytes)) {
          truncated++;
          // Bodies are dropped only at level Request and above, as upstream (truncate.go).
          if (rank[event.level] >= rank.Request) {
            dropBodies(event);
            line = utf8Encoder.encode(serializeEvent(event));
          }
          if (exceeds(line, maxEventBytes)) {
            cut++;
            line = utf8Encoder.encode(cutDown(event, prefixOf(event.apiVersion), maxEventBytes));
          }
        }
        out.line(line);
      }
      const chunks = out.finish();
      return {
        chunks,
        get lines() {
          return chunks.map(decodeLines).join('');
        },
        received: events.length + invalidCount,
        written: written.length,
        dropped: { policy: policyDropped, duplicate: duplicates },
        invalid: invalidCount,
        truncated,
        cut,
        redacted,
        events: written,
      };
    },
    release(result) {
      dedupe?.forget(result.events);
    },
  };
}

function decodeLines(chunk: Uint8Array): string {
  return decodeBytes(chunk, 0, chunk.length);
}

/** The bytes the lines of `events` take if no step changes them, up to a piece's worth. */
function expectedBytes(events: readonly AuditEvent[]): number {
  let bytes = 0;
  for (const event of events) {
    bytes += event.end - event.start + LINE_PREFIX_BYTES;
    if (bytes >= CHUNK_BYTES) return CHUNK_BYTES;
  }
  return bytes;
}

/** Apply a policy decision; false when the event is to be dropped. It can only lower detail. */
function applyPolicy(checker: EventChecker, event: AuditEvent): boolean {
  const decision = checker(event);
  if (decision.level === 'None' || decision.omitStages.has(event.stage)) return false;
  if (rank[decision.level] < rank[event.level]) {
    event.level = decision.level;
    event.set('level', JSON.stringify(decision.level));
  }
  const level = rank[event.level];
  if (level < rank.Request && event.has('requestObject')) event.set('requestObject', undefined);
  if (level < rank.Request) dropPatchAnnotations(event);
  if (level < rank.RequestResponse && event.has('responseObject')) event.set('responseObject', undefined);
  if (decision.omitManagedFields) {
    // A patch's requestObject is the patch as sent (LogRequestPatch), which upstream never strips:
    // `{"metadata":{"managedFields":[{}]}}` is how a client resets managedFields.
    for (const key of event.verb === 'patch' ? ['responseObject'] : ['requestObject', 'responseObject']) {
      const raw = event.compactRaw(key);
      if (raw === undefined) continue;
      const stripped = withoutManagedFields(raw);
      if (stripped !== raw) event.set(key, stripped);
    }
  }
  return true;
}

/**
 * A mutating webhook's patch is logged as an annotation only at level Request or above
 * (`AddAnnotationWithLevel(…, LevelRequest)`, k8s.io/apiserver
 * pkg/admission/plugin/webhook/mutating/dispatcher.go): it is part of the request body.
 */
function dropPatchAnnotations(event: AuditEvent): void {
  if (!event.rawIncludes('annotations', PATCH_ANNOTATION_PREFIX)) return;
  const annotations = event.compactRaw('annotations') as string;
  event.set(
    'annotations',
    rewriteObject(annotations, (key) => (key.startsWith(PATCH_ANNOTATION_PREFIX) ? undefined : KEEP)),
  );
}

/**
 * copyWithoutManagedFields (k8s.io/apiserver pkg/audit/request.go): `metadata.managedFields` removed
 * from the object, from each of its `items` (one level, meta.EachListItem), and from each
 * `rows[].object` of a Table.
 */
function withoutManagedFields(raw: string): string {
  // The Go type metav1.Table: kind Table of meta.k8s.io (a custom resource named Table is an object);
  // read only for a body with rows, not for every body.
  const isTable = () =>
    memberString(raw, 'kind') === 'Table' && /^meta\.k8s\.io\/v1(beta1)?$/.test(memberString(raw, 'apiVersion') ?? '');
  return rewriteObject(raw, (key, value) => {
    if (key === 'metadata') return withoutOwnManagedFields(value);
    if (key === 'items') return rewriteArray(value, withoutObjectManagedFields);
    if (key === 'rows' && isTable()) {
      return rewriteArray(value, (row) =>
        rewriteObject(row, (k, object) => (k === 'object' ? withoutObjectManagedFields(object) : KEEP)),
      );
    }
    return KEEP;
  });
}

/** removeManagedFields: an object's own `metadata.managedFields` only. */
function withoutObjectManagedFields(raw: string): string {
  return rewriteObject(raw, (key, value) => (key === 'metadata' ? withoutOwnManagedFields(value) : KEEP));
}

function withoutOwnManagedFields(metadata: string): string {
  return rewriteObject(metadata, (key) => (key === 'managedFields' ? undefined : KEEP));
}

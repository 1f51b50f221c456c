/**
 * @module
 * EventList batches as the webhook backend sends them. The buffered backend
 * (k8s.io/apiserver plugin/pkg/audit/buffered/buffered.go, collectEvents) collects up to
 * `batchSize` events, or fewer when its MaxBatchWait timer fires; the collected events are then
 * sent as EventLists of at most {@link MAX_BATCH_BYTES} (plugin/pkg/audit/truncate/truncate.go
 * splits where `batchSize + size > MaxBatchSize`, the size of each event as its encoder writes it,
 * newline included), one after another. Items carry no `kind`/`apiVersion` (internal events have
 * no TypeMeta; only the list is typed), and a list's apiVersion is that of its events, so a new
 * collection starts where the apiVersion changes.
 */
import { type AuditEvent, serializeEvent } from '@kube-audit/core';

/** The truncate backend's MaxBatchSize default (`--audit-webhook-truncate-max-batch-size`): 10 MiB. */
export const MAX_BATCH_BYTES = 10 * 1024 * 1024;

export interface Batch {
  readonly apiVersion: string;
  /** The EventList as sent. */
  readonly body: Buffer;
  readonly events: number;
  /** To name the batch in messages without printing its content. */
  readonly firstAuditID: string;
}

export interface Batcher {
  /**
   * Add an event; returns the EventLists to send now: the collection when the event fills it
   * (`batchSize` events), and the collection before it when the event's apiVersion differs.
   */
  add(event: AuditEvent): Batch[] | undefined;
  /** The events collected so far as EventLists (the MaxBatchWait timer, or the end of input); `[]` when none. */
  cut(): Batch[];
}

interface Item {
  readonly json: string;
  readonly bytes: number;
  readonly apiVersion: string;
  readonly auditID: string;
}

/**
 * Collect events into batches of `batchSize`, sent as EventLists of at most `maxBytes` and one apiVersion.
 *
 * @example
 * const batcher = createBatcher(400);
 * for (const event of events) for (const batch of batcher.add(event) ?? []) await send(batch);
 * for (const batch of batcher.cut()) await send(batch);
 */
export function createBatcher(batchSize: number, maxBytes = MAX_BATCH_BYTES): Batcher {
  let items: Item[] = [];

  const cut = (): Batch[] => {
    const batches: Batch[] = [];
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as Item;
      // One apiVersion throughout: add() cuts when it changes.
      if (i > start && bytes + item.bytes > maxBytes) {
        batches.push(listOf(items.slice(start, i)));
        start = i;
        bytes = 0;
      }
      bytes += item.bytes;
    }
    if (items.length > start) batches.push(listOf(items.slice(start)));
    items = [];
    return batches;
  };

  return {
    add(event) {
      const item = itemOf(event);
      // Events of another apiVersion come from another API server, as it were: a new collection.
      const previous = items.length > 0 && item.apiVersion !== (items[0] as Item).apiVersion ? cut() : [];
      items.push(item);
      const batches = items.length >= batchSize ? [...previous, ...cut()] : previous;
      return batches.length > 0 ? batches : undefined;
    },
    cut,
  };
}

function listOf(items: readonly Item[]): Batch {
  const first = items[0] as Item;
  const body = Buffer.from(
    `{"kind":"EventList","apiVersion":${JSON.stringify(first.apiVersion)},"metadata":{},"items":[${items.map((item) => item.json).join(',')}]}`,
  );
  return { apiVersion: first.apiVersion, body, events: items.length, firstAuditID: first.auditID };
}

/**
 * The event's JSON without kind/apiVersion, fields in the order received, and its size as the
 * API server's encoder writes it (kind and apiVersion first, a newline at the end). The serialiser
 * writes `{"kind":"Event","apiVersion":…` first, then the event's other fields: drop the prefix.
 */
function itemOf(event: AuditEvent): Item {
  const line = serializeEvent(event);
  const prefix = `{"kind":"Event","apiVersion":${JSON.stringify(event.apiVersion)}`;
  if (!line.startsWith(prefix)) throw new Error(`unexpected serialisation of event ${event.auditID}`);
  const json = line.length === prefix.length + 1 ? '{}' : `{${line.slice(prefix.length + 1)}`;
  return { json, bytes: Buffer.byteLength(line) + 1, apiVersion: event.apiVersion, auditID: event.auditID };
}

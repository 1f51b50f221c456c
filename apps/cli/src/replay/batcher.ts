/**
 * @module
 * EventList batches as the webhook backend sends them: at most `batchSize` items, items without
 * `kind`/`apiVersion` (internal events have no TypeMeta; only the list is typed), and the list's
 * apiVersion that of its events, so a batch is cut where the apiVersion changes.
 */
import { type AuditEvent, serializeEvent } from '@kube-audit/core';

export interface Batch {
  readonly apiVersion: string;
  /** The EventList as sent. */
  readonly body: Buffer;
  readonly events: number;
  /** To name the batch in messages without printing its content. */
  readonly firstAuditID: string;
}

export interface Batcher {
  /** Add an event; returns the previous batch when this event does not fit in it. */
  add(event: AuditEvent): Batch | undefined;
  /** The last batch, if any. */
  flush(): Batch | undefined;
}

/**
 * Cut events into EventList batches of at most `batchSize` items of one apiVersion.
 *
 * @example
 * const batcher = createBatcher(400);
 * for (const event of events) { const batch = batcher.add(event); if (batch) await send(batch); }
 */
export function createBatcher(batchSize: number): Batcher {
  let items: string[] = [];
  let apiVersion = '';
  let firstAuditID = '';

  const take = (): Batch | undefined => {
    if (items.length === 0) return undefined;
    const body = Buffer.from(
      `{"kind":"EventList","apiVersion":${JSON.stringify(apiVersion)},"metadata":{},"items":[${items.join(',')}]}`,
    );
    const batch = { apiVersion, body, events: items.length, firstAuditID };
    items = [];
    return batch;
  };

  return {
    add(event) {
      const full = items.length >= batchSize || (items.length > 0 && event.apiVersion !== apiVersion);
      const batch = full ? take() : undefined;
      if (items.length === 0) [apiVersion, firstAuditID] = [event.apiVersion, event.auditID];
      items.push(itemOf(event));
      return batch;
    },
    flush: take,
  };
}

/**
 * The event's JSON without kind/apiVersion, fields in the order received. The serialiser writes
 * `{"kind":"Event","apiVersion":…` first, then the event's other fields: drop the prefix.
 */
export function itemOf(event: AuditEvent): string {
  const line = serializeEvent(event);
  const prefix = `{"kind":"Event","apiVersion":${JSON.stringify(event.apiVersion)}`;
  if (!line.startsWith(prefix)) throw new Error(`unexpected serialisation of event ${event.auditID}`);
  return line.length === prefix.length + 1 ? '{}' : `{${line.slice(prefix.length + 1)}`;
}

/**
 * @module
 * The errors of `@kube-audit/core`. Each carries the HTTP status a receiver should answer with,
 * so an HTTP layer maps them without knowing the pipeline.
 */

/** A body that is not JSON or not an EventList, an Event or an array of events. */
export class PayloadError extends Error {
  override readonly name = 'PayloadError';
  readonly status = 400;
}

/**
 * @module
 * The one error type of the receiver's request path: a status, a short message for the client
 * (never request content) and optional headers. `onError` in the app turns it into a response.
 */
export class ReceiverError extends Error {
  override readonly name = 'ReceiverError';
  constructor(
    readonly status: 400 | 401 | 404 | 405 | 413 | 415 | 500 | 503,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

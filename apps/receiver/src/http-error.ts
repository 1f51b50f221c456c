/**
 * @module
 * The one error type of the receiver's request path: a status, a short message for the client
 * (never request content) and optional headers. `onError` in the app turns it into a response.
 */
export class ReceiverError extends Error {
  override readonly name = 'ReceiverError';
  constructor(
    readonly status: 400 | 401 | 404 | 405 | 408 | 413 | 415 | 500 | 503,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * Headers for an answer to a body that stopped arriving: the connection is closed rather than
 * kept for the rest of a body nobody will read (Bun would otherwise keep waiting for it). Not for
 * answers to clients that are still sending, which would see a reset instead of the answer.
 */
export const CLOSE_CONNECTION: Readonly<Record<string, string>> = { Connection: 'close' };

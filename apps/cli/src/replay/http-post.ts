/**
 * @module
 * One POST of a batch, with the headers the API server's webhook client sends (client-go with
 * `Content-Type: application/json` hard-coded in NewGenericWebhook, and Go's transport adding
 * `Accept-Encoding: gzip`), TLS as a webhook kubeconfig sets it up, and a time limit.
 */
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import { createRequire } from 'node:module';
import { formatDuration } from '../durations';

// Required, not imported: Node 24 builds the ES module view of node:http by reading every export,
// which loads its fetch implementation (undici) and costs every command a tenth of a second and
// 15 MB at start-up; this module is loaded only when `replay` runs.
const require = createRequire(import.meta.url);
const { Agent: HttpAgent, request: httpRequest } = require('node:http') as typeof Http;
const { Agent: HttpsAgent, request: httpsRequest } = require('node:https') as typeof Https;

export interface PostOutcome {
  /** The HTTP status, when a whole response arrived. */
  status?: number;
  /** The `Retry-After` header as sent. */
  retryAfter?: string;
  /** Why no response arrived: refused, reset, TLS, timeout. */
  error?: string;
  /** True when the time limit ended the request. */
  timedOut?: boolean;
}

export interface PosterOptions {
  url: URL;
  /** PEM texts, as `certificate-authority`, `client-certificate`, `client-key` in a kubeconfig. */
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  insecureSkipTlsVerify?: boolean | undefined;
  /** Sent as `Authorization: Bearer <token>` (kubeconfig `token`/`tokenFile`). */
  token?: string | undefined;
  userAgent: string;
  /** Connections open at once: one per batch in flight (Go's transport opens as many as needed). @default 1 */
  maxSockets?: number;
}

export interface Poster {
  /** POST `body`; resolves (never rejects) once the response has been read, or on failure. */
  post(body: Buffer, timeoutMs: number): Promise<PostOutcome>;
  /** Close kept-alive connections. */
  close(): void;
}

/**
 * A client for the receiver's URL, over kept-alive connections (`maxSockets` at most).
 *
 * @example
 * const poster = createPoster({ url: webhookUrl('https://receiver/audit', 30_000), userAgent: 'kube-audit' });
 * const { status } = await poster.post(Buffer.from(eventList), 30_000);
 */
export function createPoster(options: PosterOptions): Poster {
  const https = options.url.protocol === 'https:';
  // Connections kept alive between batches as Go's transport does, one per batch in flight.
  const maxSockets = options.maxSockets ?? 1;
  const agent = https
    ? new HttpsAgent({
        keepAlive: true,
        maxSockets,
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        rejectUnauthorized: !options.insecureSkipTlsVerify,
      })
    : new HttpAgent({ keepAlive: true, maxSockets });
  const send = https ? httpsRequest : httpRequest;
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    Accept: 'application/json, */*',
    'Accept-Encoding': 'gzip',
    'User-Agent': options.userAgent,
  };
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;

  return {
    post(body, timeoutMs) {
      return new Promise((resolve) => {
        let settled = false;
        const settle = (outcome: PostOutcome) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(outcome);
        };
        const request = send(options.url, {
          method: 'POST',
          agent,
          headers: { ...headers, 'Content-Length': String(body.length) },
        });
        // client-go's timeout covers the whole exchange, reading the response included.
        const timer = setTimeout(() => {
          settle({ error: `no response within ${formatDuration(timeoutMs)}`, timedOut: true });
          request.destroy();
        }, timeoutMs);
        request.on('response', (response: Http.IncomingMessage) => {
          // The body is ignored, as client-go ignores it; it is read so the connection can be reused.
          response.resume();
          response.on('end', () => settle(outcomeOf(response)));
          response.on('error', (error) => settle({ error: describeNetworkError(error) }));
          response.on('close', () => {
            if (!response.complete) settle({ error: 'connection closed while reading the response' });
          });
        });
        request.on('error', (error) => settle({ error: describeNetworkError(error) }));
        request.end(body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

function outcomeOf(response: Http.IncomingMessage): PostOutcome {
  const outcome: PostOutcome = { status: response.statusCode ?? 0 };
  const retryAfter = response.headers['retry-after'];
  if (retryAfter !== undefined) outcome.retryAfter = retryAfter;
  return outcome;
}

function describeNetworkError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || error.message === 'socket hang up') return 'connection reset';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host not found (${error.message})`;
  return code ? `${error.message} (${code})` : error.message;
}

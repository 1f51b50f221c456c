/**
 * HTTPS requests with node:https, for TLS tests: the trusted CA, an optional client certificate,
 * an optional keep-alive agent, and what the handshake showed (the server certificate, whether
 * the connection was reused).
 */

import { type Agent, request } from 'node:https';
import type { PeerCertificate, TLSSocket } from 'node:tls';

export interface HttpsOptions {
  ca: string;
  cert?: string;
  key?: string;
  agent?: Agent;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Send the body in this many pieces, `delayMs` apart, so that the request stays in flight. */
  trickle?: { chunks: number; delayMs: number };
  /** Called once the TLS handshake is done: from then on the connection has its certificate. */
  onSecureConnect?: () => void;
  /** Check the server certificate for this name or IP instead of the host connected to. */
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

export interface HttpsAnswer {
  status: number;
  body: string;
  /** The server certificate of the connection that carried the request. */
  peer: PeerCertificate;
  /** True when the request went over a connection an earlier request had opened. */
  reused: boolean;
  /** The local port of the connection, to tell connections apart. */
  localPort: number;
}

/** Rejects with the TLS error (e.g. `code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'`) when the handshake fails. */
export function httpsRequest(url: string, options: HttpsOptions): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        agent: options.agent ?? false,
        headers: options.headers,
        ...(options.checkServerIdentity && { checkServerIdentity: options.checkServerIdentity }),
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const peer = socket.getPeerCertificate();
        const localPort = socket.localPort ?? 0;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peer, reused: req.reusedSocket, localPort }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const { onSecureConnect } = options;
    if (onSecureConnect) req.on('socket', (socket) => socket.once('secureConnect', onSecureConnect));
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
    const body = Buffer.from(options.body ?? '');
    if (!options.trickle) return void req.end(body);
    const { chunks, delayMs } = options.trickle;
    req.setHeader('content-length', body.length);
    const size = Math.ceil(body.length / chunks);
    let sent = 0;
    const next = () => {
      if (sent >= body.length) return void req.end();
      req.write(body.subarray(sent, sent + size));
      sent += size;
      setTimeout(next, delayMs);
    };
    next();
  });
}

/** Retries `probe` until it returns true, every 100 ms, for up to `timeoutMs`. */
export async function eventually(probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

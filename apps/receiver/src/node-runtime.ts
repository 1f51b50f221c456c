/**
 * @module
 * The receiver's Node adapter: @hono/node-server listeners with timeouts that suit the API
 * server's client, certificates swapped in place with `setSecureContext` (open connections keep
 * theirs), and the non-blocking stdout sink.
 */
import type { Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { type HttpBindings, serve } from '@hono/node-server';
import { readBody } from './body';
import { readNodeBody } from './node-body';
import { createPrometheusMetrics } from './prometheus';
import type { Listener, Runtime } from './server';
import { createStdoutSink } from './stdout-sink';

/** Go's http.Transport drops idle connections after 90 s; staying open longer means the client closes first, never mid-request. */
const KEEP_ALIVE_MS = 120_000;
/** Stalled or trickling clients: the API server itself gives up after 30 s. */
const HEADERS_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 60_000;
/** A connection that has not finished its TLS handshake by then is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

function toListener(server: Server, port: number, secure: boolean): Listener {
  // Requests being answered. Go's http.Transport also opens connections ahead of need that may
  // never carry a request; closeIdleConnections() leaves those open (only closeAllConnections()
  // reaches them), and they would hold the drain until SHUTDOWN_TIMEOUT_MS.
  let inFlight = 0;
  server.on('request', (_request, response) => {
    inFlight++;
    response.once('close', () => inFlight--);
  });
  const closeUnused = () => {
    server.closeIdleConnections();
    if (inFlight === 0) server.closeAllConnections();
  };
  const listener: Listener = {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        // Keep-alive connections go idle as their requests finish; close each as it does.
        const sweep = setInterval(closeUnused, 100);
        server.close(() => {
          clearInterval(sweep);
          resolve();
        });
        closeUnused();
      }),
  };
  if (secure) {
    listener.setTls = async function setTls(tls) {
      // Applies to handshakes from now on; requestCert/rejectUnauthorized stay as the server has them.
      (server as unknown as HttpsServer).setSecureContext({ cert: tls.cert, key: tls.key, ca: tls.ca });
    };
  }
  return listener;
}

export const nodeRuntime: Runtime = {
  name: `node ${process.version}`,
  createSink: (onFatal) => createStdoutSink({ onFatal }),
  createMetrics: createPrometheusMetrics,
  // @hono/node-server hands the app Node's request as c.env.incoming (not so under app.request).
  readBody(c, limit, options) {
    const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
    return incoming ? readNodeBody(incoming, limit, options) : readBody(c.req.raw, limit, options);
  },
  listen(app, { port, tls }) {
    return new Promise((resolve, reject) => {
      const timeouts = {
        headersTimeout: HEADERS_TIMEOUT_MS,
        requestTimeout: REQUEST_TIMEOUT_MS,
        keepAliveTimeout: KEEP_ALIVE_MS,
        // How often those timeouts are checked (Node's default, 30 s, would double them).
        connectionsCheckingInterval: 1_000,
      };
      const server = serve(
        tls
          ? {
              fetch: app.fetch,
              port,
              createServer: createHttpsServer,
              serverOptions: {
                ...timeouts,
                cert: tls.cert,
                key: tls.key,
                ca: tls.ca,
                // mTLS: with a client CA, a client without a certificate it signed fails the handshake.
                requestCert: !!tls.ca,
                rejectUnauthorized: !!tls.ca,
                handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
              },
            }
          : { fetch: app.fetch, port, serverOptions: timeouts },
        (info) => resolve(toListener(server as Server, info.port, !!tls)),
      ) as Server;
      server.keepAliveTimeout = KEEP_ALIVE_MS;
      server.once('error', reject);
    });
  },
};

/**
 * @module
 * The receiver's Bun adapter: Bun.serve listeners and a stdout sink over a FileSink, whose flush
 * settles when the bytes are written.
 *
 * Two things differ from Node. `Bun.write(Bun.stdout, …)` blocks the whole process while a pipe
 * reader is stalled, so writes go through `Bun.stdout.writer()`, which waits without blocking.
 * And Bun.serve cannot change the certificate of a running listener (`server.reload()` ignores
 * `tls`), so a new certificate gets a new listener on the same port (SO_REUSEPORT), and the old
 * one stops accepting, finishes the requests it has and closes its idle keep-alive connections.
 */
import { createPrometheusMetrics } from './prometheus';
import type { Listener, Runtime } from './server';
import { createQueueSink } from './sink';
import type { TlsMaterial } from './tls-files';

interface BunServer {
  readonly port: number;
  stop(closeActiveConnections?: boolean): Promise<void>;
  readonly pendingRequests: number;
}
interface BunServeOptions {
  port: number;
  fetch: (request: Request) => Response | Promise<Response>;
  maxRequestBodySize?: number;
  idleTimeout?: number;
  reusePort?: boolean;
  tls?: { cert: string; key: string; ca?: string; requestCert?: boolean; rejectUnauthorized?: boolean };
}
interface FileSink {
  /** A promise when the bytes had to wait (a stalled pipe); it rejects on EPIPE. */
  write(chunk: string | Uint8Array): number | Promise<number>;
  flush(): number | Promise<number>;
}
interface BunGlobal {
  version: string;
  stdout: { writer(): FileSink };
  serve(options: BunServeOptions): BunServer;
}
declare const Bun: BunGlobal;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function tlsOptions(tls: TlsMaterial): BunServeOptions['tls'] {
  // mTLS: with a client CA, a client without a certificate it signed fails the handshake.
  return tls.ca
    ? { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true }
    : { cert: tls.cert, key: tls.key };
}

export const bunRuntime: Runtime = {
  name: `bun ${Bun.version}`,
  createSink(onFatal) {
    const stdout = Bun.stdout.writer();
    return createQueueSink(async function writeStdout(bytes) {
      try {
        await stdout.write(bytes);
        await stdout.flush();
      } catch (error) {
        onFatal(error as Error);
        throw error;
      }
    });
  },
  createMetrics: createPrometheusMetrics,
  async listen(app, { port, tls }) {
    const serve = (listenPort: number, material: TlsMaterial | undefined) =>
      Bun.serve({
        port: listenPort,
        fetch: app.fetch,
        // The app enforces MAX_BODY_BYTES itself (on decompressed bytes); Bun's own cap must not be lower.
        maxRequestBodySize: 1024 ** 3,
        idleTimeout: 120,
        // Lets a replacement listener bind the port while the old one still holds it.
        ...(material ? { reusePort: true, tls: tlsOptions(material) } : {}),
      });
    let current = serve(port, tls);
    const retired = new Set<BunServer>();
    const listener: Listener = {
      port: current.port,
      async close() {
        const servers = [current, ...retired];
        // stop(false) stops accepting and lets requests in flight finish; its promise also waits
        // for connections that carry no request (idle keep-alives, and those Go's http.Transport
        // opens ahead of need), so once no request is left those are closed with stop(true).
        const stopped = Promise.all(servers.map((server) => server.stop(false)));
        while (servers.some((server) => server.pendingRequests > 0)) await sleep(50);
        await Promise.all(servers.map((server) => server.stop(true)));
        await stopped;
      },
    };
    if (tls) {
      listener.setTls = async function setTls(material) {
        const previous = current;
        current = serve(listener.port, material);
        retired.add(previous);
        void previous.stop(false).finally(() => {
          if (previous.pendingRequests === 0) retired.delete(previous);
        });
      };
    }
    return listener;
  },
};

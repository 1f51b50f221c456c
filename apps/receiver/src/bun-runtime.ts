/**
 * @module
 * The receiver's Bun adapter: Bun.serve listeners and a stdout sink over Bun.write, whose promise
 * settles when the bytes are written.
 */
import { createPrometheusMetrics } from './prometheus';
import type { Listener, Runtime } from './server';
import { createQueueSink } from './sink';

interface BunServer {
  readonly port: number;
  stop(closeActiveConnections?: boolean): Promise<void>;
  readonly pendingRequests: number;
}
interface BunGlobal {
  version: string;
  stdout: unknown;
  write(destination: unknown, data: string): Promise<number>;
  serve(options: {
    port: number;
    fetch: (request: Request) => Response | Promise<Response>;
    maxRequestBodySize?: number;
    idleTimeout?: number;
    tls?: { cert: string; key: string; ca?: string; requestCert?: boolean; rejectUnauthorized?: boolean };
  }): BunServer;
}
declare const Bun: BunGlobal;

export const bunRuntime: Runtime = {
  name: `bun ${Bun.version}`,
  createSink: (onFatal) =>
    createQueueSink(async (text) => {
      try {
        await Bun.write(Bun.stdout, text);
      } catch (error) {
        onFatal(error as Error);
        throw error;
      }
    }),
  createMetrics: createPrometheusMetrics,
  async listen(app, { port, tls }) {
    const server = Bun.serve({
      port,
      fetch: app.fetch,
      // The app enforces MAX_BODY_BYTES itself (on decompressed bytes); Bun's own cap must not be lower.
      maxRequestBodySize: 1024 ** 3,
      idleTimeout: 120,
      ...(tls ? { tls: { ...tls, requestCert: !!tls.ca, rejectUnauthorized: !!tls.ca } } : {}),
    });
    const listener: Listener = {
      port: server.port,
      async close() {
        // stop(false) stops accepting and lets requests in flight finish.
        await server.stop(false);
        while (server.pendingRequests > 0) await new Promise((resolve) => setTimeout(resolve, 50));
      },
    };
    return listener;
  },
};

/**
 * A scripted HTTP(S) server standing in for a webhook receiver: it records every request (method,
 * URL, headers, body, arrival time) and lets the test decide each answer.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** performance.now() when the body had arrived. */
  at: number;
}

/** Answer the `index`th request (0-based); leave `response` alone to never answer. */
export type Reply = (request: IncomingMessage, response: ServerResponse, index: number, body: string) => void;

export interface TestServer {
  url: string;
  requests: Received[];
  close(): Promise<void>;
}

export async function startServer(reply: Reply, tls?: ServerOptions): Promise<TestServer> {
  const requests: Received[] = [];
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const index = requests.length;
      requests.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body,
        at: performance.now(),
      });
      reply(request, response, index, body);
    });
  };
  const server = tls ? createHttpsServer(tls, handler) : createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answer with a status (and headers), as receivers do: a short JSON body. */
export function answer(response: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers }).end('{}');
}

/** Gaps in milliseconds between consecutive requests. */
export function gaps(requests: readonly Received[]): number[] {
  return requests.slice(1).map((request, i) => request.at - (requests[i] as Received).at);
}

// The bare node:http server of the floor and the echo limit: collect the body, hand it to
// `respond`, write what it returns to stdout and answer once the write has completed (a 400 when
// it returns undefined). Nothing else, so that the two differ only in what `respond` does.
import { createServer } from 'node:http';

/** @param {(body: Buffer) => string | Buffer | undefined} respond */
export function serveBodies(respond) {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const out = respond(Buffer.concat(chunks));
      if (out === undefined) {
        res.writeHead(400).end();
        return;
      }
      process.stdout.write(out, () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
  });
  server.keepAliveTimeout = 120_000;
  server.listen(Number(process.env.PORT ?? 0), () => {
    process.stderr.write(`${JSON.stringify({ msg: 'listening', ports: [server.address().port] })}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

// The echo limit: read the body and write it to stdout untouched, answering once the write has
// completed. No parsing at all, so no correct receiver can be faster: the room between the floor
// and this line is the per-event work, not HTTP or the write.
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    chunks.push(Buffer.from('\n'));
    process.stdout.write(Buffer.concat(chunks), () => {
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

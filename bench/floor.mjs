// The floor: the least a Node receiver can do. Read the body, JSON.parse it, JSON.stringify each
// item, write the lines in one go, answer once the write has completed. No validation, no
// pipeline, no framework: what the runtime itself costs.
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let list;
    try {
      list = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400).end();
      return;
    }
    let out = '';
    for (const item of list.items) out += `${JSON.stringify(item)}\n`;
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

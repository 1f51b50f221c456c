// Write a large audit log (JSON lines, as --audit-log-path writes) for measuring `kube-audit
// process` on multi-gigabyte input; not part of the test suite, which stays fast.
//
//   node apps/cli/scripts/large-log.mjs /tmp/audit-300m.log 300
//   /usr/bin/time -v node apps/cli/dist/kube-audit.js process --debug-memory /tmp/audit-300m.log > /dev/null
//
// The lines are the real fixtures' events (fixtures/real) with a fresh auditID each, so that
// dedupe keeps them all, and RequestResponse events with Secrets are included, so redaction works.
import { once } from 'node:events';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [out, megabytes = '300'] = process.argv.slice(2);
if (!out) {
  process.stderr.write('usage: node large-log.mjs OUT [MEGABYTES]\n');
  process.exit(2);
}
const target = Number(megabytes) * 1024 * 1024;
const real = join(dirname(fileURLToPath(import.meta.url)), '../../../fixtures/real');
const sources = [
  join(real, 'audit2rbac/demo.log'),
  ...readdirSync(join(real, 'falco'))
    .filter((name) => name !== 'fal_01_003.json')
    .map((name) => join(real, 'falco', name)),
];
const templates = sources.flatMap((file) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.stringify(JSON.parse(line))),
);

const stream = createWriteStream(out);
let written = 0;
let events = 0;
while (written < target) {
  let chunk = '';
  for (const template of templates) {
    const id = (events++).toString(16).padStart(12, '0');
    const line = template.replace(/"auditID":"[^"]*"/, `"auditID":"00000000-0000-4000-8000-${id}"`);
    chunk += `${line}\n`;
  }
  written += Buffer.byteLength(chunk);
  if (!stream.write(chunk)) await once(stream, 'drain');
}
stream.end();
await once(stream, 'finish');
process.stderr.write(`${out}: ${events} events, ${written} bytes\n`);

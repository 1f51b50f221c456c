/**
 * Start the built receiver as a real process on a free port, and read what it writes: stdout
 * lines (the audit events) and stderr lines (JSON diagnostics).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const RECEIVER_DIST = fileURLToPath(new URL('../../apps/receiver/dist/', import.meta.url));

export interface ReceiverProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Audit lines written so far. */
  readonly lines: string[];
  /** Parsed stderr diagnostics so far. */
  readonly logs: Record<string, unknown>[];
  /** Raw stdout text so far. */
  stdout(): string;
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or the signal name) once the process and its output have ended. */
  readonly exited: Promise<number | string>;
  stop(): Promise<number | string>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Command and args; default: node on dist/node.js. */
  command?: [string, ...string[]];
  cwd?: string;
  /** Wait for an HTTPS listener instead (its port is the second one logged). */
  portIndex?: number;
  /** Pause reading stdout this long after each chunk: a log agent that keeps the pipe full. */
  slowReaderMs?: number;
}

/** The Bun binary to test with: $BUN, else `bun` from PATH; undefined when neither exists. */
export function findBun(): string | undefined {
  if (process.env.BUN && existsSync(process.env.BUN)) return process.env.BUN;
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(`${dir}/bun`)) return `${dir}/bun`;
  return undefined;
}

/** A runtime the built receiver is tested on. */
export interface TestRuntime {
  name: 'node' | 'bun';
  /** Command for `startReceiver`; undefined runs Node on dist/node.js. */
  command?: [string, ...string[]];
}

/** Node always, Bun when it is installed ($BUN or `bun` on PATH), which CI requires. */
export const runtimes: TestRuntime[] = [{ name: 'node' }];
const bun = findBun();
if (bun) runtimes.push({ name: 'bun', command: [bun, `${RECEIVER_DIST}bun.js`] });
else if (process.env.CI) throw new Error('Bun is required in CI (set $BUN or put bun on PATH)');

export async function startReceiver(options: StartOptions = {}): Promise<ReceiverProcess> {
  const [command, ...args] = options.command ?? [process.execPath, `${RECEIVER_DIST}node.js`];
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH, PORT: '0', TLS_PORT: '0', LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const lines: string[] = [];
  const logs: Record<string, unknown>[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    const parts = out.split('\n');
    out = parts.pop() ?? '';
    lines.push(...parts);
    if (options.slowReaderMs) {
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), options.slowReaderMs);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
    const parts = err.split('\n');
    err = parts.pop() ?? '';
    for (const part of parts) {
      try {
        logs.push(JSON.parse(part));
      } catch {
        logs.push({ level: 'raw', msg: part });
      }
    }
  });
  // 'close', not 'exit': once the process has gone, its stdout and stderr are read to the end
  // too, so every line it wrote is in `lines` and `logs`.
  const exited = new Promise<number | string>((resolve) =>
    child.on('close', (code, signal) => resolve(code ?? signal ?? -1)),
  );

  // The timeout only bounds a wait for something that must happen; it is generous because the
  // machine may be busy, and tests never assert on how long anything took.
  const waitFor = async (predicate: () => boolean, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out; stderr: ${JSON.stringify(logs.slice(-5))}`);
      if (child.exitCode !== null)
        throw new Error(`receiver exited ${child.exitCode}; stderr: ${JSON.stringify(logs.slice(-5))}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  await waitFor(() => logs.some((log) => log.msg === 'listening'), 20_000);
  const listening = logs.find((log) => log.msg === 'listening') as { ports: number[] };
  const port = listening.ports[options.portIndex ?? 0] as number;
  const scheme = options.portIndex === undefined ? 'http' : 'https';
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    child,
    lines,
    logs,
    stdout: () => lines.join('\n'),
    waitFor,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** POST a body as the API server does (JSON, `?timeout=30s`). */
export function postAudit(
  url: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<Response> {
  const target = new URL(url);
  if (!target.search) target.search = '?timeout=30s';
  return fetch(target, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
}

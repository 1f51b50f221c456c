/**
 * The Deployment's memory limit against the receiver's defaults, with the built receiver as a real
 * process inside a memory cgroup of the manifest's size, on Node 24 (the image's runtime, with the
 * image's NODE_OPTIONS) and Bun: batches of the largest size the Deployment accepts, made of the
 * smallest valid events (the most memory per body byte), posted at once and re-posted after a 503
 * as the API server does, are all written, and the receiver is neither killed by the kernel nor
 * out of heap. docs/deploy.md has the arithmetic behind the limit and the defaults.
 *
 * Needs permission to make a memory cgroup (root, as in CI); skipped with the reason elsewhere.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { findBun, RECEIVER_DIST } from '../../../test/support/receiver';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const deployment = parseAllDocuments(readFileSync(`${root}deploy/20-deployment.yaml`, 'utf8'), {
  version: '1.1',
})[0]?.toJS() as {
  spec: {
    template: {
      spec: {
        containers: {
          env: { name: string; value: string }[];
          resources: { limits: { memory: string } };
        }[];
      };
    };
  };
};
const container = deployment.spec.template.spec.containers[0];
const deployedEnv = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
const limitText = container?.resources.limits.memory ?? '';
const LIMIT_BYTES = Number(/^(\d+)Mi$/.exec(limitText)?.[1]) * 2 ** 20;
/** NODE_OPTIONS as the image sets it (`ENV NODE_OPTIONS=…` in the Dockerfile), if it does. */
const imageNodeOptions = /^ENV\s+NODE_OPTIONS=(\S+)/m.exec(readFileSync(`${root}Dockerfile`, 'utf8'))?.[1];
const MAX_BODY_BYTES = Number(deployedEnv.MAX_BODY_BYTES);

/** A memory cgroup (v2, or v1's memory controller) limited to `bytes`, or why there cannot be one. */
function makeMemoryCgroup(bytes: number): { path: string; oomKills: () => number; remove: () => void } | string {
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
  const parent = v2 ? '/sys/fs/cgroup' : '/sys/fs/cgroup/memory';
  if (v2 && !readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').split(/\s+/).includes('memory'))
    return 'the cgroup v2 hierarchy has no memory controller';
  if (!existsSync(parent)) return 'no memory cgroup hierarchy is mounted';
  const path = `${parent}/kube-audit-memory-test-${process.pid}`;
  try {
    mkdirSync(path);
    writeFileSync(`${path}/${v2 ? 'memory.max' : 'memory.limit_in_bytes'}`, String(bytes));
    // No swap, as in a pod: the limit is the memory there is.
    if (v2 && existsSync(`${path}/memory.swap.max`)) writeFileSync(`${path}/memory.swap.max`, '0');
    if (!v2 && existsSync(`${path}/memory.memsw.limit_in_bytes`))
      writeFileSync(`${path}/memory.memsw.limit_in_bytes`, String(bytes));
  } catch (error) {
    return `cannot make a memory cgroup (${(error as NodeJS.ErrnoException).code ?? String(error)}; needs root)`;
  }
  const oomKills = () => {
    const text = readFileSync(`${path}/${v2 ? 'memory.events' : 'memory.oom_control'}`, 'utf8');
    return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0);
  };
  return { path, oomKills, remove: () => rmdirSync(path) };
}

function nodeMajor(binary: string): number {
  return Number(/^v(\d+)/.exec(execFileSync(binary, ['--version'], { encoding: 'utf8' }))?.[1] ?? 0);
}

/** Node 24 ($NODE24, or this Node if it is 24 or later) and Bun, or why each is missing. */
const node24 = process.env.NODE24 ?? (nodeMajor(process.execPath) >= 24 ? process.execPath : undefined);
const bun = findBun();
const candidates = [
  {
    name: 'node 24',
    command: node24 ? [node24, `${RECEIVER_DIST}node.js`] : undefined,
    env: imageNodeOptions ? { NODE_OPTIONS: imageNodeOptions } : {},
    missing: 'set $NODE24 to a Node 24 binary (the image runs Node 24)',
  },
  { name: 'bun', command: bun ? [bun, `${RECEIVER_DIST}bun.js`] : undefined, env: {}, missing: 'no Bun' },
];

interface Load {
  body: string;
  /** Events the batch writes. */
  events: number;
  /** Items of it that are not events. */
  invalid: number;
}

/** A bare array of `0`s filling `bytes`: the most items, none of them an event. */
function zeros(bytes: number): Load {
  const count = Math.floor((bytes - 1) / 2);
  return { body: `[${'0,'.repeat(count - 1)}0]`, events: 0, invalid: count };
}

/** An EventList of the smallest valid events, as close to `bytes` as they fill it. */
function tinyBatch(bytes: number, prefix: string): Load {
  const head = '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[';
  const items: string[] = [];
  let size = head.length + 2;
  for (let i = 0; ; i++) {
    const item = `{"auditID":"${prefix}-${i}","stage":"ResponseComplete","level":"Metadata","verb":"get","requestURI":"/"}`;
    if (size + item.length + 1 > bytes) break;
    items.push(item);
    size += item.length + 1;
  }
  return { body: `${head}${items.join(',')}]}`, events: items.length, invalid: 0 };
}

let child: ChildProcess | undefined;
let cgroup: Exclude<ReturnType<typeof makeMemoryCgroup>, string> | undefined;
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await new Promise((resolve) => child?.once('exit', resolve));
  }
  child = undefined;
  cgroup?.remove();
  cgroup = undefined;
});

describe('the Deployment memory limit', () => {
  it('is a whole number of Mi, with MAX_BODY_BYTES spelled out', () => {
    expect(LIMIT_BYTES).toBeGreaterThan(0);
    expect(MAX_BODY_BYTES).toBeGreaterThan(0);
  });

  const loads = [
    {
      title: 'three batches of MAX_BODY_BYTES of the smallest events at once',
      make: () => ['a', 'b', 'c'].map((prefix) => tinyBatch(MAX_BODY_BYTES, prefix)),
    },
    { title: 'three bodies of MAX_BODY_BYTES of `0`s at once', make: () => [0, 1, 2].map(() => zeros(MAX_BODY_BYTES)) },
  ];
  const probe = makeMemoryCgroup(LIMIT_BYTES);
  if (typeof probe !== 'string') probe.remove();
  for (const candidate of candidates)
    for (const load of loads) {
      const reason = typeof probe === 'string' ? probe : candidate.command ? undefined : candidate.missing;
      it.skipIf(reason !== undefined)(
        `holds on ${candidate.name}: ${load.title}${reason ? ` (skipped: ${reason})` : ''}`,
        async () => {
          const made = makeMemoryCgroup(LIMIT_BYTES);
          if (typeof made === 'string') throw new Error(made);
          cgroup = made;
          const [command, entry] = candidate.command as [string, string];
          // The shell joins the cgroup, then becomes the receiver: the runtime starts inside it.
          const started = spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', made.path, command, entry], {
            env: {
              PATH: process.env.PATH,
              ...deployedEnv,
              ...candidate.env,
              PORT: '0',
              TLS_PORT: '0',
              METRICS_PORT: '0',
              TLS_CERT_FILE: `${root}no-such-dir/tls.crt`,
              TLS_KEY_FILE: `${root}no-such-dir/tls.key`,
            },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          child = started;
          let lines = 0;
          started.stdout?.on('data', (chunk: Buffer) => {
            for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
          });
          let stderr = '';
          started.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
            stderr += chunk;
          });
          const exited = new Promise<number | string>((resolve) =>
            started.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
          );
          const port = await new Promise<number>((resolve, reject) => {
            const timer = setInterval(() => {
              const match = /"msg":"listening".*?"ports":\[(\d+)/.exec(stderr);
              if (match) {
                clearInterval(timer);
                resolve(Number(match[1]));
              } else if (started.exitCode !== null) {
                clearInterval(timer);
                reject(new Error(`receiver exited: ${stderr}`));
              }
            }, 20);
          });

          const batches = load.make();
          // As the API server: a 503 is re-posted after Retry-After, and a connection error (a 503
          // sent while the body was still on its way can reach the client as a reset) retried.
          const post = async ({ body }: { body: string }) => {
            for (let attempt = 0; attempt < 120; attempt++) {
              let response: Response;
              try {
                response = await fetch(`http://127.0.0.1:${port}/audit?timeout=30s`, {
                  method: 'POST',
                  body,
                  headers: { 'content-type': 'application/json' },
                });
              } catch (error) {
                if (started.exitCode !== null || started.signalCode !== null) throw error;
                await new Promise((resolve) => setTimeout(resolve, 1000));
                continue;
              }
              const answer = (await response.json()) as { written?: number; invalid?: number };
              if (response.status !== 503) return { status: response.status, answer };
              await new Promise((resolve) => setTimeout(resolve, Number(response.headers.get('retry-after')) * 1000));
            }
            return { status: 503, answer: {} };
          };
          const results = await Promise.all(batches.map(post));
          expect(results.map((result) => result.status)).toEqual([200, 200, 200]);
          expect(results.map((result) => result.answer.written)).toEqual(batches.map((batch) => batch.events));
          expect(results.map((result) => result.answer.invalid)).toEqual(batches.map((batch) => batch.invalid));
          const total = batches.reduce((sum, batch) => sum + batch.events, 0);
          for (const deadline = Date.now() + 30_000; lines < total && Date.now() < deadline; )
            await new Promise((resolve) => setTimeout(resolve, 50));
          expect(lines).toBe(total);
          expect(started.exitCode).toBeNull();
          expect(made.oomKills()).toBe(0);
          started.kill('SIGTERM');
          expect(await exited).toBe(0);
        },
        300_000,
      );
    }
});

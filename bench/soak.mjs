// Soak: the built receiver under a fixed rate for a long time, RSS sampled every second, to show
// that memory stays flat. Not part of CI.
//
//   node bench/soak.mjs [--runtime node24] [--minutes 10] [--rate 20] [--batch 400] [--out soak.csv]
//                       [--cgroup DIR]
//
// --runtime is node20 (this node), node24 (the container's runtime, the default) or bun.
// --rate is batches per second (the API server's default throttle is 10 batches/s, burst 15).
// --cgroup starts the receiver inside that memory cgroup (v1 or v2; made and limited beforehand,
// as root), e.g. one limited to the Deployment's 512Mi: the runtimes size their heaps from it. On
// cgroup v1 it is a directory under the memory controller's mount:
//   mkdir /sys/fs/cgroup/memory/soak && echo 536870912 > /sys/fs/cgroup/memory/soak/memory.limit_in_bytes
// The soak fails at once if the receiver did not land in it.
// Prints RSS per minute (mean and max) and fails unless every event answered 200 is on stdout.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeBatch, poolSize } from './events.mjs';
import { runtimes } from './runtimes.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    runtime: { type: 'string', default: 'node24' },
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '20' },
    batch: { type: 'string', default: '400' },
    out: { type: 'string' },
    cgroup: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const size = Number(values.batch);
if (!(values.runtime in runtimes)) throw new Error(`--runtime: one of ${Object.keys(runtimes).join(', ')}`);
const runtime = runtimes[values.runtime]();

execFileSync('pnpm', ['--filter', '@kube-audit/receiver', 'run', 'build'], { cwd: root, stdio: 'ignore' });
const receiver = [runtime.bin, `${root}apps/receiver/dist/${runtime.entry}`];
// In a cgroup: the shell joins it, then becomes the receiver, so the runtime starts inside it.
const [command, ...args] = values.cgroup
  ? ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', values.cgroup, ...receiver]
  : receiver;
const child = spawn(command, args, {
  env: { PATH: process.env.PATH, PORT: '0' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let lines = 0;
child.stdout.on('data', (chunk) => {
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
});
const port = await new Promise((resolve) => {
  let err = '';
  child.stderr.on('data', (chunk) => {
    err += chunk;
    const match = /"ports":\[(\d+)/.exec(err);
    if (match) resolve(Number(match[1]));
  });
});

// The directory must be a memory cgroup that the receiver is now in: on cgroup v1 a directory
// of the memory controller's mount (/sys/fs/cgroup/memory/NAME, memory.limit_in_bytes), on v2 one
// of the unified hierarchy (memory.max). Any other directory takes the pid and limits nothing.
if (values.cgroup) {
  const groups = readFileSync(`/proc/${child.pid}/cgroup`, 'utf8').split('\n');
  const memory =
    groups.find((line) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(line)) ?? groups.find((line) => line.startsWith('0::'));
  const path = memory?.slice(memory.lastIndexOf(':') + 1);
  if (!path || path === '/' || !values.cgroup.replace(/\/+$/, '').endsWith(path)) {
    child.kill();
    throw new Error(`--cgroup ${values.cgroup}: the receiver is in memory cgroup ${path ?? '(none)'}, not in it`);
  }
}

const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
// Distinct batches, more than the dedupe window holds, so every event is new to the receiver.
// Requests are not awaited one by one: at most `rate` are in flight in a second.
const pool = Array.from({ length: poolSize(size, rate) }, (_, k) => makeBatch(10_000 + k, size, 'Metadata'));
let sent = 0;
let ok = 0;
let failed = 0;

function post(body) {
  return new Promise((resolve) => {
    const req = request(
      {
        port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/audit?timeout=30s',
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

const samples = [];
const started = Date.now();
const end = started + minutes * 60_000;
const metricsText = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
const gauge = (text, name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
// The JavaScript heap in use, from the receiver's own metrics every 10 s: tells a leak (it grows)
// from a heap that is still sizing itself (RSS grows, heap in use does not).
let heap = { heapMb: Number.NaN, heapTotalMb: Number.NaN, externalMb: Number.NaN };
const sampler = setInterval(async () => {
  const second = Math.round((Date.now() - started) / 1000);
  if (second % 10 === 0) {
    const text = await metricsText();
    heap = {
      heapMb: gauge(text, 'nodejs_heap_size_used_bytes') / 2 ** 20,
      heapTotalMb: gauge(text, 'nodejs_heap_size_total_bytes') / 2 ** 20,
      externalMb: gauge(text, 'nodejs_external_memory_bytes') / 2 ** 20,
    };
  }
  samples.push({ second, rssMb: rss(), ...heap, lines, ok, failed });
}, 1000);
const ticker = setInterval(() => {
  if (Date.now() >= end) return;
  const body = pool[sent++ % pool.length];
  post(body).then((status) => (status === 200 ? ok++ : failed++));
}, 1000 / rate);

await new Promise((resolve) => setTimeout(resolve, end - Date.now() + 2000));
clearInterval(ticker);
clearInterval(sampler);
const metrics = await metricsText();
const written = gauge(metrics, 'kube_audit_events_written_total');
const duplicates = gauge(metrics, 'kube_audit_events_dropped_total\\{reason="duplicate"\\}');
child.kill('SIGTERM');
await new Promise((resolve) => child.on('close', resolve));

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(
  `soak on ${runtime.name}${values.cgroup ? ` in ${values.cgroup}` : ''}: ${minutes} min at ${rate} batches/s of ${size} events; ${ok} batches answered 200, ${failed} not; ${lines} lines written`,
);
console.log('minute | mean RSS MB | max RSS MB | mean heap used MB | mean heap total MB | mean external MB');
for (let minute = 1; minute <= minutes; minute++) {
  const inMinute = samples.filter((s) => s.second > (minute - 1) * 60 && s.second <= minute * 60);
  const column = (key) => mean(inMinute.map((s) => s[key]).filter((mb) => !Number.isNaN(mb))).toFixed(1);
  const rss = inMinute.map((s) => s.rssMb);
  if (rss.length)
    console.log(
      `${minute} | ${column('rssMb')} | ${Math.max(...rss).toFixed(1)} | ${column('heapMb')} | ${column('heapTotalMb')} | ${column('externalMb')}`,
    );
}
if (values.out)
  writeFileSync(
    values.out,
    `second,rss_mb,heap_used_mb,heap_total_mb,external_mb,lines,ok,failed\n${samples
      .map((s) =>
        [s.second, s.rssMb, s.heapMb, s.heapTotalMb, s.externalMb]
          .map((v) => (Number.isInteger(v) ? v : v.toFixed(1)))
          .concat([s.lines, s.ok, s.failed])
          .join(','),
      )
      .join('\n')}\n`,
  );
if (lines < ok * size || lines !== written || duplicates !== 0) {
  console.error(
    `soak failed: ${ok * size} events answered 200, ${written} counted written, ${duplicates} duplicates, ${lines} lines`,
  );
  process.exitCode = 1;
}

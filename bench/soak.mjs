// Soak: the built receiver under a fixed rate for a long time, RSS sampled every second, to show
// that memory stays flat. Not part of CI.
//
//   node bench/soak.mjs [--minutes 10] [--rate 20] [--batch 400] [--out docs/soak.csv]
//
// --rate is batches per second (the API server's default throttle is 10 batches/s, burst 15).
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeBatch } from './events.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '20' },
    batch: { type: 'string', default: '400' },
    out: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const size = Number(values.batch);

execFileSync('pnpm', ['--filter', '@kube-audit/receiver', 'run', 'build'], { cwd: root, stdio: 'ignore' });
const child = spawn(process.execPath, [`${root}apps/receiver/dist/node.js`], {
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

const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
// Distinct batches, more than the dedupe window holds, so every event is new to the receiver.
const pool = Array.from({ length: Math.ceil(12_000 / size) + 1 }, (_, k) => makeBatch(10_000 + k, size, 'Metadata'));
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
const sampler = setInterval(() => {
  samples.push({ second: Math.round((Date.now() - started) / 1000), rssMb: rss(), lines, ok, failed });
}, 1000);
const ticker = setInterval(() => {
  if (Date.now() >= end) return;
  const body = pool[sent++ % pool.length];
  post(body).then((status) => (status === 200 ? ok++ : failed++));
}, 1000 / rate);

await new Promise((resolve) => setTimeout(resolve, end - Date.now() + 2000));
clearInterval(ticker);
clearInterval(sampler);
child.kill('SIGTERM');

const rssValues = samples.map((s) => s.rssMb);
const firstMinute = samples.filter((s) => s.second >= 30 && s.second <= 90).map((s) => s.rssMb);
const lastMinute = samples.slice(-60).map((s) => s.rssMb);
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(
  `soak: ${minutes} min at ${rate} batches/s of ${size} events; ${ok} batches answered 200, ${failed} not; ${lines} lines written`,
);
console.log(
  `RSS MB: min ${Math.min(...rssValues).toFixed(0)}, max ${Math.max(...rssValues).toFixed(0)}, mean of 0:30-1:30 ${mean(firstMinute).toFixed(1)}, mean of last minute ${mean(lastMinute).toFixed(1)}`,
);
if (values.out)
  writeFileSync(
    values.out,
    `second,rss_mb,lines,ok,failed\n${samples.map((s) => `${s.second},${s.rssMb.toFixed(1)},${s.lines},${s.ok},${s.failed}`).join('\n')}\n`,
  );

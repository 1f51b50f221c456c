// `pnpm bench`: the receiver against the floor (bench/floor.mjs), side by side in one run, as
// separate processes driven by the same load, on Node 20 (this node), Node 24 and Bun
// (bench/runtimes.mjs).
//
// The echo server (bench/echo.mjs) runs beside them as the limit: it writes each body untouched.
// The CLI rows run `kube-audit process` over a generated audit log against bench/cli-floor.mjs.
//
//   node bench/run.mjs [--quick] [--runtimes node20,node24,bun] [--seconds N] [--rounds N] [--cli-mb N]
//                      [--load wrk|autocannon] [--out FILE]
//
// Prints one table and, with --out, writes it as markdown with an SVG chart beside it.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  createWriteStream,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { makeBatch, makeEvent, poolSize } from './events.mjs';
import { runtimes } from './runtimes.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runtimes: { type: 'string' },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    out: { type: 'string' },
    'cli-mb': { type: 'string' },
    load: { type: 'string' },
  },
});
const cliMb = Number(args['cli-mb'] ?? (args.quick ? 40 : 215));
const seconds = Number(args.seconds ?? (args.quick ? 2 : 6));
const rounds = Number(args.rounds ?? (args.quick ? 1 : 2));
const wanted = (args.runtimes ?? (args.quick ? 'node24' : 'node20,node24,bun')).split(',');
const hasWrk = spawnSync('wrk', ['--version']).error === undefined;
const loadTool = args.load ?? (hasWrk ? 'wrk' : 'autocannon');
if (loadTool === 'wrk' && !hasWrk) throw new Error('--load wrk: no wrk on PATH (apt-get install wrk)');
if (loadTool === 'autocannon' && !args.load)
  process.stderr.write('wrk is not on PATH (apt-get install wrk): load from autocannon, in this process\n');
const TICKS = 100; // /proc/<pid>/stat clock ticks per second (USER_HZ)

// --- servers --------------------------------------------------------------------------------

const policy20 = `${root}bench/policy-20.yaml`;
const servers = {
  floor: { label: 'floor (node:http, JSON.parse + JSON.stringify)', args: () => [`${root}bench/floor.mjs`], env: {} },
  echo: { label: 'echo limit (body written untouched)', args: () => [`${root}bench/echo.mjs`], env: {} },
  receiver: { label: 'receiver, default pipeline', env: {} },
  policy: { label: 'receiver, default pipeline + 20-rule Policy', env: { AUDIT_POLICY_FILE: policy20 } },
  off: { label: 'receiver, pipeline off', env: { REDACT: 'off', DEDUPE_CACHE_SIZE: '0', MAX_EVENT_BYTES: '0' } },
};

function procStat(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return {
    cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS,
    rssMb: kb('VmRSS') / 1024,
    hwmMb: kb('VmHWM') / 1024,
  };
}

async function startServer(runtime, kind) {
  const server = servers[kind];
  const argv = server.args ? server.args() : [`${root}apps/receiver/dist/${runtime.entry}`];
  const child = spawn(runtime.bin, argv, {
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', NODE_ENV: 'production', ...server.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let lines = 0;
  child.stdout.on('data', (chunk) => {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
  });
  let stderr = '';
  const port = await new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const match = /"ports":\[(\d+)/.exec(stderr);
      if (match) resolve(Number(match[1]));
    });
    child.on('exit', (code) => reject(new Error(`${kind} exited ${code}: ${stderr}`)));
    setTimeout(() => reject(new Error(`${kind} did not start: ${stderr}`)), 15_000);
  });
  return {
    child,
    port,
    lines: () => lines,
    stat: () => procStat(child.pid),
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.on('exit', resolve)));
    },
  };
}

// --- load -----------------------------------------------------------------------------------

const payloads = {
  metadata: { label: '400-event Metadata batches', size: 400, detail: 'Metadata' },
  rr: {
    label: '100-event RequestResponse batches (~18 KB events)',
    size: 100,
    detail: 'RequestResponse',
    bodyBytes: 21000,
  },
};

const connections = 4;
let runCounter = 1;
function bodyPool(payload) {
  const count = poolSize(payload.size, connections);
  return Array.from({ length: count }, () => makeBatch(runCounter++, payload.size, payload.detail, payload.bodyBytes));
}

/**
 * Shared across runs so that consecutive runs continue the rotation instead of restarting it.
 * Resolves to `{ ok, failed, p50, p99 }`: responses 2xx, responses not 2xx or errors, latency ms.
 */
let next = 0;
const drive = (port, pool, duration) =>
  loadTool === 'wrk' ? driveWrk(port, pool, duration) : driveAutocannon(port, pool, duration);

function driveAutocannon(port, pool, duration) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `http://127.0.0.1:${port}/audit?timeout=30s`,
        connections,
        duration,
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req) => ({ ...req, body: pool[next++ % pool.length] }),
          },
        ],
      },
      (error, result) =>
        error
          ? reject(error)
          : resolve({
              ok: result['2xx'],
              failed: result.non2xx + result.errors,
              p50: result.latency.p50,
              p99: result.latency.p99,
            }),
    );
  });
}

// wrk: one thread, `connections` connections, each sending the next body of the pool; the
// bodies are written to files once per pool and formatted as requests when wrk starts.
const wrkScript = `
local dir, count, n
local requests = {}
function init(args)
  dir, count, n = args[1], tonumber(args[2]), tonumber(args[3])
  for i = 0, count - 1 do
    local file = assert(io.open(dir .. "/" .. i .. ".json", "rb"))
    requests[i] = wrk.format("POST", "/audit?timeout=30s", { ["Content-Type"] = "application/json" }, file:read("*a"))
    file:close()
  end
end
function request()
  local r = requests[n % count]
  n = n + 1
  return r
end
function done(summary, latency)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d\\n", summary.requests,
    e.status + e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
`;
const poolDirs = new Map();
function driveWrk(port, pool, duration) {
  let dir = poolDirs.get(pool);
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'kube-audit-bench-'));
    writeFileSync(join(dir, 'script.lua'), wrkScript);
    for (const [i, body] of pool.entries()) writeFileSync(join(dir, `${i}.json`), body);
    poolDirs.set(pool, dir);
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  const argv = ['-t1', `-c${connections}`, `-d${duration}s`, '--timeout', '30s', '-s', join(dir, 'script.lua')];
  argv.push(`http://127.0.0.1:${port}`, '--', dir, String(pool.length), String(next));
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const m = /RESULT (\d+) (\d+) (\d+) (\d+)/.exec(out);
      if (code !== 0 || !m) return reject(new Error(`wrk exited ${code}: ${out}`));
      const [requests, failed, p50, p99] = m.slice(1).map(Number);
      next += requests + connections; // the requests cut off when wrk stopped were sent too
      resolve({ ok: requests - failed, failed, p50: p50 / 1000, p99: p99 / 1000 });
    });
  });
}

async function measureThroughput(runtime, kind, payload, pool) {
  const server = await startServer(runtime, kind);
  try {
    await drive(server.port, pool, 1); // warm-up: JIT, connections
    const linesBefore = server.lines();
    const before = server.stat();
    const result = await drive(server.port, pool, seconds);
    await settled(server.lines);
    const after = server.stat();
    const ok = result.ok;
    const events = ok * payload.size;
    const written = server.lines() - linesBefore;
    if (result.failed > 0) throw new Error(`${kind}: ${result.failed} requests failed or not 2xx`);
    // Requests still in flight when the load stops (warm-up and run) may add lines, so at least.
    // The echo server writes each body as one line.
    if (written < (kind === 'echo' ? ok : events))
      throw new Error(`${kind}: ${ok} batches answered but ${written} lines written (expected ${events})`);
    if (!servers[kind].args) await checkCounters(server, kind);
    return {
      eventsPerSec: events / seconds,
      p50: result.p50,
      p99: result.p99,
      cpuPer1000: ((after.cpuMs - before.cpuMs) / (kind === 'echo' ? written * payload.size : written)) * 1000,
      peakMb: after.hwmMb,
    };
  } finally {
    await server.stop();
  }
}

/** The receiver's own count of written events must match stdout, with nothing set aside. */
async function checkCounters(server, kind) {
  const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  const counter = (pattern) => Number(new RegExp(`^${pattern} (\\d+)$`, 'm').exec(metrics)?.[1]);
  const written = counter('kube_audit_events_written_total');
  const duplicates = counter('kube_audit_events_dropped_total\\{reason="duplicate"\\}');
  if (written !== server.lines())
    throw new Error(`${kind}: ${written} events counted written, ${server.lines()} lines`);
  if (duplicates !== 0) throw new Error(`${kind}: ${duplicates} events dropped as duplicates; the body pool repeats`);
}

/** Wait until the line count stops moving (the reader may lag behind a fast server), up to 5 s. */
async function settled(lines) {
  for (let last = -1, waited = 0; lines() !== last && waited < 5000; waited += 250) {
    last = lines();
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function post(port, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/audit?timeout=30s',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function measureHuge(runtime, kind) {
  const server = await startServer(runtime, kind);
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const idleMb = server.stat().rssMb;
    const size = 1750; // ~18 KB events: just under the 32 MiB MAX_BODY_BYTES
    let events = 0;
    let busyMs = 0;
    const batches = args.quick ? 2 : 4;
    for (let i = 0; i < batches; i++) {
      const body = makeBatch(runCounter++, size, 'RequestResponse', 21000);
      const started = performance.now();
      const status = await post(server.port, body);
      busyMs += performance.now() - started;
      if (status !== 200) throw new Error(`${kind}: 32 MiB batch answered ${status}`);
      events += size;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The echo server writes each body as one line.
    const expected = kind === 'echo' ? batches : events;
    if (server.lines() !== expected) throw new Error(`${kind}: ${server.lines()} lines, expected ${expected}`);
    return {
      idleMb,
      peakMb: server.stat().hwmMb,
      eventsPerSec: events / (busyMs / 1000),
      bodyMb: Buffer.byteLength(makeBatch(0, size, 'RequestResponse', 21000)) / 2 ** 20,
    };
  } finally {
    await server.stop();
  }
}

// --- CLI ------------------------------------------------------------------------------------

/**
 * An audit log as --audit-log-path writes it: one Event per line, nine Metadata events to one
 * RequestResponse event with ~8 KB bodies, every auditID distinct (so dedupe drops nothing).
 */
async function auditLog(megabytes) {
  const file = join(tmpdir(), `kube-audit-bench-${megabytes}mb.log`);
  if (existsSync(file) && statSync(file).size >= megabytes * 2 ** 20) return file;
  process.stderr.write(`writing a ${megabytes} MB audit log to ${file} …\n`);
  const out = createWriteStream(`${file}.tmp`);
  let bytes = 0;
  for (let run = 5_000_000; bytes < megabytes * 2 ** 20; run++) {
    let chunk = '';
    for (let i = 0; i < 1000; i++) {
      const event = makeEvent(run, i, i % 10 === 9 ? 'RequestResponse' : 'Metadata', 8000);
      chunk += `${JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...event })}\n`;
    }
    bytes += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve));
  }
  await new Promise((resolve, reject) => out.end((error) => (error ? reject(error) : resolve())));
  execFileSync('mv', [`${file}.tmp`, file]);
  return file;
}

const cliKinds = {
  floor: {
    label: 'CLI floor (readline, JSON.parse + JSON.stringify)',
    args: (file) => [`${root}bench/cli-floor.mjs`, file],
  },
  process: {
    label: 'kube-audit process, default pipeline',
    args: (file) => [`${root}apps/cli/dist/kube-audit.js`, 'process', '--summary', file],
  },
};

/** Wall time and peak RSS (GNU time's %M) of one run, stdout to /dev/null; checks the line count. */
function measureCli(runtime, kind, file, expected) {
  const devNull = openSync('/dev/null', 'w');
  try {
    const result = spawnSync('/usr/bin/time', ['-f', 'TIME %e %M', runtime.bin, ...cliKinds[kind].args(file)], {
      stdio: ['ignore', devNull, 'pipe'],
      maxBuffer: 64 * 2 ** 20,
    });
    const stderr = result.stderr?.toString() ?? '';
    if (result.status !== 0)
      throw new Error(`CLI ${kind} on ${runtime.name} exited ${result.status}: ${stderr.slice(-2000)}`);
    return parseCli(kind, stderr, expected);
  } finally {
    closeSync(devNull);
  }
}

function parseCli(kind, stderr, expected) {
  const time = /TIME ([\d.]+) (\d+)/.exec(stderr);
  const lines = Number((kind === 'floor' ? /(\d+) lines/ : /wrote ([\d,]+) line/).exec(stderr)?.[1].replace(/,/g, ''));
  if (!time) throw new Error(`CLI ${kind}: no timing in ${stderr.slice(-500)}`);
  if (expected !== undefined && lines !== expected)
    throw new Error(`CLI ${kind}: ${lines} lines, expected ${expected}`);
  return { seconds: Number(time[1]), peakMb: Number(time[2]) / 1024, lines };
}

// --- main -----------------------------------------------------------------------------------

execFileSync('pnpm', ['--filter', '@kube-audit/receiver', 'run', 'build'], { cwd: root, stdio: 'ignore' });
execFileSync('pnpm', ['--filter', '@kube-audit/cli', 'run', 'build'], { cwd: root, stdio: 'ignore' });
const load = loadavg()[0].toFixed(1);
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
const rows = [];
const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

// --quick: the floor, the echo limit and the default pipeline only.
const kinds = args.quick ? ['floor', 'echo', 'receiver'] : Object.keys(servers);

for (const key of wanted) {
  const runtime = runtimes[key]();
  process.stderr.write(`\n${runtime.name}\n`);
  for (const [payloadKey, payload] of Object.entries(payloads)) {
    const pool = bodyPool(payload);
    const results = Object.fromEntries(kinds.map((kind) => [kind, []]));
    for (let round = 0; round < rounds; round++) {
      // Alternate the order each round so neither side always runs first.
      const order = round % 2 === 0 ? kinds : [...kinds].reverse();
      for (const kind of order) {
        const r = await measureThroughput(runtime, kind, payload, pool);
        results[kind].push(r);
        process.stderr.write(`  ${payloadKey} ${kind}: ${Math.round(r.eventsPerSec)} events/s\n`);
      }
    }
    const floorRate = median(results.floor.map((r) => r.eventsPerSec));
    for (const kind of kinds) {
      const rs = results[kind];
      rows.push({
        runtime: runtime.name,
        payload: payload.label,
        server: servers[kind].label,
        kind,
        eventsPerSec: median(rs.map((r) => r.eventsPerSec)),
        ratio: median(rs.map((r) => r.eventsPerSec)) / floorRate,
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        cpuPer1000: median(rs.map((r) => r.cpuPer1000)),
        peakMb: Math.max(...rs.map((r) => r.peakMb)),
      });
    }
  }
  const log = await auditLog(cliMb);
  const logMb = statSync(log).size / 2 ** 20;
  const lineCount = Number(execFileSync('wc', ['-l', log]).toString().split(' ')[0]);
  const cli = { floor: [], process: [] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ['floor', 'process'] : ['process', 'floor'];
    for (const kind of order) {
      const r = measureCli(runtime, kind, log, lineCount);
      cli[kind].push(r);
      process.stderr.write(`  CLI ${kind}: ${r.seconds} s, peak ${Math.round(r.peakMb)} MB\n`);
    }
  }
  const cliFloorRate = lineCount / median(cli.floor.map((r) => r.seconds));
  const cliFloorPeak = Math.max(...cli.floor.map((r) => r.peakMb));
  for (const kind of ['floor', 'process']) {
    const rate = lineCount / median(cli[kind].map((r) => r.seconds));
    const peakMb = Math.max(...cli[kind].map((r) => r.peakMb));
    rows.push({
      runtime: runtime.name,
      payload: `CLI, ${Math.round(logMb)} MB audit log`,
      server: cliKinds[kind].label,
      kind: `cli-${kind}`,
      eventsPerSec: rate,
      ratio: rate / cliFloorRate,
      peakMb,
      peakRatio: peakMb / cliFloorPeak,
    });
  }

  // The echo limit too: what the runtime's HTTP layer alone holds for such a body.
  const huge = {};
  for (const kind of ['floor', 'echo', 'receiver']) {
    huge[kind] = await measureHuge(runtime, kind);
    process.stderr.write(`  32MiB ${kind}: peak ${Math.round(huge[kind].peakMb)} MB\n`);
  }
  for (const kind of ['floor', 'echo', 'receiver']) {
    rows.push({
      runtime: runtime.name,
      payload: `back-to-back ${huge.floor.bodyMb.toFixed(1)} MiB batches`,
      server: servers[kind].label,
      kind,
      eventsPerSec: huge[kind].eventsPerSec,
      ratio: huge[kind].eventsPerSec / huge.floor.eventsPerSec,
      idleMb: huge[kind].idleMb,
      peakMb: huge[kind].peakMb,
      peakRatio: huge[kind].peakMb / huge.floor.peakMb,
    });
  }
}

// --- report ---------------------------------------------------------------------------------

const fmt = (n, digits = 0) =>
  n === undefined ? '' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const header = [
  'runtime',
  'payload',
  'server',
  'events/s',
  '× floor',
  'p50 ms',
  'p99 ms',
  'CPU ms/1000 ev',
  'idle RSS MB',
  'peak RSS MB',
  'peak × floor',
];
const table = rows.map((r) => [
  r.runtime,
  r.payload,
  r.server,
  fmt(r.eventsPerSec),
  fmt(r.ratio, 2),
  fmt(r.p50, 1),
  fmt(r.p99, 1),
  fmt(r.cpuPer1000, 1),
  fmt(r.idleMb),
  fmt(r.peakMb),
  fmt(r.peakRatio, 2),
]);
const markdown = [
  `| ${header.join(' | ')} |`,
  `|${header.map(() => '---').join('|')}|`,
  ...table.map((row) => `| ${row.join(' | ')} |`),
].join('\n');
const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
console.log(
  `\nkube-audit benchmark, ${when} UTC, commit ${commit}, ${machine}, load average ${load} at the start; load from ${loadTool} with ${connections} connections, ${seconds} s per run, ${rounds} round(s), median of rounds\n`,
);
console.log(markdown);

if (args.out) {
  const chart = args.out.replace(/\.md$/, '.svg');
  writeFileSync(
    chart,
    svgChart(rows.filter((r) => (r.kind !== 'floor' && r.p50 !== undefined) || r.kind === 'cli-process')),
  );
  const body = readFileSync(args.out, 'utf8');
  const start = body.indexOf('<!-- results -->');
  const end = body.indexOf('<!-- /results -->');
  const results = `<!-- results -->\n\nRun on ${when} UTC, commit \`${commit}\`, ${machine}, load average ${load} at the start; load from ${loadTool} with ${connections} connections, ${seconds} s per run, ${rounds} round(s), medians.\n\n![events per second relative to the floor](${chart.split('/').pop()})\n\n${markdown}\n\n`;
  writeFileSync(
    args.out,
    start >= 0 && end > start
      ? body.slice(0, start) + results + body.slice(end)
      : `${body}\n${results}<!-- /results -->\n`,
  );
}

/** Horizontal bars of events/s relative to the floor, one group per runtime and payload. */
function svgChart(bars) {
  const rowH = 22;
  const left = 430;
  const width = 820;
  const scale = (width - left - 60) / Math.max(1.2, ...bars.map((b) => b.ratio));
  const height = bars.length * rowH + 60;
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    '<title>Receiver events per second relative to the floor</title>',
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Receiver events/s relative to the floor (1.0 = bare node:http + JSON.parse/stringify)</text>`,
  ];
  bars.forEach((b, i) => {
    const y = 40 + i * rowH;
    const colour =
      { receiver: '#2b6cb0', policy: '#805ad5', echo: '#38a169', 'cli-process': '#dd6b20' }[b.kind] ?? '#a0aec0';
    parts.push(
      `<text x="${left - 8}" y="${y + 14}" text-anchor="end">${esc(`${b.runtime} · ${b.payload.split(' (')[0]} · ${b.server.replace('receiver, ', '')}`)}</text>`,
    );
    parts.push(
      `<rect x="${left}" y="${y + 3}" width="${Math.max(1, b.ratio * scale)}" height="${rowH - 6}" fill="${colour}"/>`,
    );
    parts.push(`<text x="${left + b.ratio * scale + 6}" y="${y + 14}">${b.ratio.toFixed(2)}×</text>`);
  });
  const x1 = left + scale;
  parts.push(`<line x1="${x1}" y1="32" x2="${x1}" y2="${height - 10}" stroke="#e53e3e" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="${x1 + 4}" y="${height - 12}" fill="#e53e3e">floor</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

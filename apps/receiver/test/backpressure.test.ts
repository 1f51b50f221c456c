/**
 * Backpressure with the built receiver as a real process whose stdout reader stops reading (a
 * stalled log agent): past MAX_PENDING_BYTES batches get 503 with Retry-After and nothing of
 * them is written, the process keeps answering, its memory stays bounded, and once the reader
 * resumes every event that was answered 200 is on stdout.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { postAudit, type ReceiverProcess, startReceiver } from '../../../test/support/receiver';
import { auditIds, batch } from './support/events';
import { parsePrometheusText, sampleValue } from './support/prometheus-text';
import { runtimes } from './support/runtimes';

const MAX_PENDING_BYTES = 1024 * 1024;
const EVENTS_PER_BATCH = 400;
/** Batches offered while stdout is stalled: far more than the bound lets through. */
const OFFERED_BATCHES = 480;

let receiver: ReceiverProcess | undefined;
afterEach(async () => {
  receiver?.child.stdout?.resume();
  await receiver?.stop();
  receiver = undefined;
});

function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1]) * 1024;
}

const settled = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms))]);

describe.each(runtimes)('a stalled stdout on $name', ({ command }) => {
  it('answers 503 with Retry-After past MAX_PENDING_BYTES, stays responsive and bounded, and loses nothing', async () => {
    receiver = await startReceiver({ command, env: { MAX_PENDING_BYTES: String(MAX_PENDING_BYTES) } });
    const r = receiver;
    const pid = r.child.pid as number;
    const batchBytes = batch(EVENTS_PER_BATCH, 'warm-up').length;

    // Warm up (JIT, buffers), then note the memory in use.
    expect((await postAudit(`${r.url}/audit`, batch(EVENTS_PER_BATCH, 'warm-up'))).status).toBe(200);
    await r.waitFor(() => r.lines.length === EVENTS_PER_BATCH);
    const rssBefore = rssBytes(pid);

    r.child.stdout?.pause();
    const answers: { prefix: string; response: Promise<Response> }[] = [];
    let firstRefused: number | undefined;
    for (let i = 0; i < OFFERED_BATCHES; i++) {
      const prefix = `stalled-${i}`;
      const response = postAudit(`${r.url}/audit`, batch(EVENTS_PER_BATCH, prefix));
      answers.push({ prefix, response });
      // A batch taken is answered once written: at first straight away (the kernel buffers some),
      // then only when the reader resumes; once the bound is reached, every batch is refused.
      // The wait only paces the offers: a batch still unanswered is judged by its final answer below.
      const outcome = await settled(response, firstRefused === undefined ? 300 : 2000);
      if (outcome === 'pending' || outcome.status === 200) continue;
      expect(outcome.status).toBe(503);
      expect(outcome.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await outcome.json()).toEqual({ error: 'output is backed up' });
      firstRefused ??= i;
    }
    expect(firstRefused, 'a batch was refused').toBeDefined();

    // Still answering while stdout is stalled: liveness, readiness (not shutting down) and metrics.
    expect((await fetch(`${r.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${r.url}/readyz`)).status).toBe(200);
    const metrics = parsePrometheusText(await (await fetch(`${r.url}/metrics`)).text());
    const pending = sampleValue(metrics, 'kube_audit_sink_pending_bytes');
    expect(pending).toBeGreaterThan(MAX_PENDING_BYTES / 2);
    // Checked before a batch is read, so the overshoot is at most the batches taken concurrently.
    expect(pending).toBeLessThan(MAX_PENDING_BYTES + 2 * batchBytes);
    const refusedCount = sampleValue(metrics, 'kube_audit_requests_total', { code: '503' });

    // Memory: the refused batches (about OFFERED_BATCHES × batchBytes) were never held.
    const growth = rssBytes(pid) - rssBefore;
    console.info(
      `${command ? 'bun' : 'node'}: offered ${((OFFERED_BATCHES * batchBytes) / 2 ** 20).toFixed(0)} MiB, ` +
        `refused ${refusedCount} batches, pending ${(pending / 2 ** 20).toFixed(2)} MiB, RSS +${(growth / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(growth).toBeLessThan(64 * 1024 * 1024);

    // The reader resumes: every batch answered 200 is written, whole, once; nothing of a 503 is.
    r.child.stdout?.resume();
    const statuses = await Promise.all(answers.map(async ({ response }) => (await response).status));
    const acknowledged = answers.filter((_, i) => statuses[i] === 200).map(({ prefix }) => prefix);
    // Once the bound was reached, nothing more was taken while the reader was stalled.
    expect(statuses.slice(firstRefused).every((status) => status === 503)).toBe(true);
    // Counted once all are answered: a refusal still on its way above was not counted yet.
    const after = parsePrometheusText(await (await fetch(`${r.url}/metrics`)).text());
    const refusedTotal = sampleValue(after, 'kube_audit_requests_total', { code: '503' });
    expect(statuses.filter((status) => status === 503)).toHaveLength(refusedTotal);
    expect(acknowledged.length + refusedTotal).toBe(OFFERED_BATCHES);
    // The bound let through what fits in MAX_PENDING_BYTES (plus what the kernel buffers), no more.
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(acknowledged.length * batchBytes).toBeLessThan(MAX_PENDING_BYTES + 2 * 1024 * 1024);
    const expected = acknowledged.flatMap((prefix) =>
      Array.from({ length: EVENTS_PER_BATCH }, (_, i) => `${prefix}-${i}`),
    );
    await r.waitFor(() => r.lines.length === EVENTS_PER_BATCH + expected.length);
    expect(auditIds(r.lines.slice(EVENTS_PER_BATCH)).sort()).toEqual(expected.sort());

    // And it takes batches again.
    expect((await postAudit(`${r.url}/audit`, batch(3, 'after'))).status).toBe(200);
  });
});

describe.each(runtimes)('stdout closed by its reader on $name', ({ command }) => {
  it('answers no 200 for lines it could not write and exits non-zero', async () => {
    receiver = await startReceiver({ command });
    const r = receiver;
    r.child.stdout?.destroy();
    const statuses: (number | undefined)[] = [];
    // The first write may still fit in the kernel's buffer before the broken pipe shows.
    for (let i = 0; i < 5 && r.child.exitCode === null; i++) {
      const response = await postAudit(`${r.url}/audit`, batch(EVENTS_PER_BATCH, `epipe-${i}`)).catch(() => undefined);
      statuses.push(response?.status);
      if (response?.status !== 200) break;
    }
    expect(statuses.at(-1)).not.toBe(200);
    // Resolves once the process has exited and its stderr is read to the end.
    expect(await r.exited).not.toBe(0);
    expect(r.logs.some((log) => String(log.msg).includes('stdout failed'))).toBe(true);
    // Through the drain, not a crash.
    expect(r.logs.at(-1)).toMatchObject({ msg: 'stopped', exitCode: 1 });
  });
});

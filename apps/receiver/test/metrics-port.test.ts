/**
 * METRICS_PORT with the built receiver as a real process, on every runtime: /metrics is served on
 * that port alone, without the ingest token, and that port takes no events; the main port then
 * has no /metrics. Scrapers can be let in to the metrics port only (deploy/monitoring).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { postAudit, type ReceiverProcess, startReceiver } from '../../../test/support/receiver';
import { batch } from './support/events';
import { runtimes, runUntilExit } from './support/runtimes';

let dir: string;
let tokenFile: string;
let receiver: ReceiverProcess | undefined;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kube-audit-metrics-port-'));
  tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'ingest-token\n');
});
afterEach(async () => {
  await receiver?.stop();
  receiver = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(runtimes)('METRICS_PORT on $name', (runtime) => {
  it('serves /metrics on its own port without the token, takes no events there, and not on PORT', async () => {
    receiver = await startReceiver({
      command: runtime.command,
      env: { METRICS_PORT: '0', AUTH_TOKEN_FILE: tokenFile },
    });
    const r = receiver;
    const listening = r.logs.find((log) => log.msg === 'listening') as { metrics?: number; ports: number[] };
    expect(listening.metrics).toEqual(expect.any(Number));
    expect(listening.ports).not.toContain(listening.metrics);
    const metricsUrl = `http://127.0.0.1:${listening.metrics}`;

    const ingest = await postAudit(`${r.url}/audit`, batch(3, 'm'), { authorization: 'Bearer ingest-token' });
    expect(ingest.status).toBe(200);

    const scraped = await fetch(`${metricsUrl}/metrics`);
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await scraped.text()).toMatch(/^kube_audit_events_written_total 3$/m);

    // The metrics port takes no events, with or without the token.
    for (const headers of [{}, { authorization: 'Bearer ingest-token' }] as Record<string, string>[]) {
      const posted = await postAudit(`${metricsUrl}/audit`, batch(1, 'x'), headers);
      expect(posted.status).toBe(404);
    }
    expect((await fetch(`${metricsUrl}/metrics`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${metricsUrl}/healthz`)).status).toBe(404);

    // The main port no longer answers /metrics, even with the token.
    const main = await fetch(`${r.url}/metrics`, { headers: { authorization: 'Bearer ingest-token' } });
    expect(main.status).toBe(404);
    expect(r.lines).toHaveLength(3);
  });

  it('refuses a METRICS_PORT equal to PORT or TLS_PORT, with exit code 2', async () => {
    const same = await runUntilExit(runtime, { PORT: '3999', METRICS_PORT: '3999' });
    expect(same.code).toBe(2);
    expect(same.stderr).toContain('METRICS_PORT: must differ from PORT (both 3999)');
    const tls = await runUntilExit(runtime, { TLS_PORT: '4999', METRICS_PORT: '4999' });
    expect(tls.code).toBe(2);
    expect(tls.stderr).toContain('METRICS_PORT: must differ from TLS_PORT (both 4999)');
  });
});

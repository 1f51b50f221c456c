/**
 * What a client can make the receiver write on stderr, with the built receiver as a real process:
 * one summary line per batch of invalid items (count, the first few indexes and reasons), never
 * an item's content, and every stderr line a JSON object of its own.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { postAudit, type ReceiverProcess, startReceiver } from '../../../test/support/receiver';
import { auditEvent } from './support/events';
import { runtimes } from './support/runtimes';

let receiver: ReceiverProcess | undefined;
afterEach(async () => {
  await receiver?.stop();
  receiver = undefined;
});

/** Starts the receiver and counts every byte it writes on stderr. */
async function start(command: [string, ...string[]] | undefined) {
  const r = await startReceiver({ command });
  receiver = r;
  let stderrBytes = 0;
  let raw = '';
  r.child.stderr?.on('data', (chunk: Buffer | string) => {
    stderrBytes += Buffer.byteLength(chunk);
    raw += chunk;
  });
  return { r, stderrBytes: () => stderrBytes, stderr: () => raw };
}

describe.each(runtimes)('diagnostics on $name', ({ command }) => {
  it('500,000 invalid items: 200 with the count, and one summary line on stderr', async () => {
    const { r, stderrBytes } = await start(command);
    const body = `[${Array(500_000).fill('0').join(',')}]`;
    const response = await postAudit(`${r.url}/audit`, body);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      received: 500_000,
      written: 0,
      dropped: { policy: 0, duplicate: 0 },
      invalid: 500_000,
    });
    await r.waitFor(() => r.logs.some((log) => log.msg === 'invalid audit events'));
    const summary = r.logs.filter((log) => log.msg === 'invalid audit events');
    expect(summary).toEqual([
      {
        level: 'warn',
        time: expect.any(String),
        msg: 'invalid audit events',
        count: 500_000,
        first: [0, 1, 2, 3, 4].map((index) => ({ index, reason: 'not an object' })),
      },
    ]);
    // One line, not one per item (before: about 64 MB).
    expect(stderrBytes()).toBeLessThan(2048);
  });

  it('never copies an invalid item to stderr: a Secret with a bad stageTimestamp, a pretty-printed forgery', async () => {
    const { r, stderr } = await start(command);
    const secret = auditEvent('secret-1', {
      level: 'RequestResponse',
      verb: 'create',
      requestURI: '/api/v1/namespaces/default/secrets',
      objectRef: { resource: 'secrets', namespace: 'default', name: 'db', apiVersion: 'v1' },
      requestObject: { kind: 'Secret', apiVersion: 'v1', data: { password: 'aHVudGVyMi1zZWNyZXQ=' } },
      stageTimestamp: 20261127,
    });
    // Pretty-printed, an invalid item spans lines, one of which is a whole log line of its own.
    const forged = '{"level":"error","time":"2026-11-27T05:00:00.000Z","msg":"forged"}';
    const body = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[\n${JSON.stringify(secret)},\n{"verb":\n${forged}\n}\n]}`;
    const response = await postAudit(`${r.url}/audit/prod`, body);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ received: 2, written: 0, invalid: 2 });
    await r.waitFor(() => r.logs.some((log) => log.msg === 'invalid audit events'));
    expect(r.logs.find((log) => log.msg === 'invalid audit events')).toMatchObject({
      count: 2,
      cluster: 'prod',
      first: [
        { index: 0, reason: 'stageTimestamp must be a string or null' },
        { index: 1, reason: 'verb must be a string' },
      ],
    });
    expect(stderr()).not.toContain('aHVudGVyMi1zZWNyZXQ=');
    expect(r.logs.filter((log) => log.msg === 'forged' || log.level === 'raw')).toEqual([]);
  });
});

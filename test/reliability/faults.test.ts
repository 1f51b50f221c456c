/**
 * Faults under load: SIGTERM and SIGKILL while clients post. The promise checked: every event
 * answered 200 is on stdout, because an answer only follows a completed write.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type ReceiverProcess, startReceiver } from '../support/receiver';

let receiver: ReceiverProcess | undefined;
afterEach(async () => {
  if (receiver && receiver.child.exitCode === null && receiver.child.signalCode === null)
    receiver.child.kill('SIGKILL');
  receiver = undefined;
});

const batch = (client: number, n: number) => {
  const ids = Array.from({ length: 100 }, (_, i) => `c${client}-b${n}-e${i}`);
  const body = JSON.stringify({
    kind: 'EventList',
    apiVersion: 'audit.k8s.io/v1',
    items: ids.map((auditID) => ({
      level: 'Metadata',
      auditID,
      stage: 'ResponseComplete',
      requestURI: '/api/v1/namespaces/default/pods?limit=500',
      verb: 'list',
      user: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
    })),
  });
  return { ids, body };
};

/** Clients post until the receiver stops answering; returns the auditIDs answered 200. */
async function load(r: ReceiverProcess, clients: number): Promise<{ acked: string[]; answered: number }> {
  const acked: string[] = [];
  let answered = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let n = 0; ; n++) {
        const { ids, body } = batch(client, n);
        try {
          const response = await fetch(`${r.url}/audit?timeout=30s`, {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/json' },
          });
          await response.arrayBuffer();
          answered++;
          if (response.status === 200) acked.push(...ids);
          else if (response.status !== 503) throw new Error(`unexpected ${response.status}`);
        } catch (error) {
          if ((error as Error).message.startsWith('unexpected')) throw error;
          return; // connection refused or reset: the receiver is gone
        }
        if (r.child.exitCode !== null || r.child.signalCode !== null) return;
      }
    }),
  );
  return { acked, answered };
}

describe.each(['SIGTERM', 'SIGKILL'] as const)('%s under load', (signal) => {
  it('leaves every event answered 200 on stdout', async () => {
    receiver = await startReceiver();
    const r = receiver;
    const running = load(r, 8);
    await r.waitFor(() => r.lines.length > 2000, 10_000);
    r.child.kill(signal);
    const { acked, answered } = await running;
    const exit = await r.exited;
    expect(exit).toBe(signal === 'SIGTERM' ? 0 : 'SIGKILL');
    expect(answered).toBeGreaterThan(20);
    // Give the pipe a moment to deliver what was written before the end.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const written = new Set(r.lines.map((line) => JSON.parse(line).auditID as string));
    const missing = acked.filter((id) => !written.has(id));
    expect(missing).toEqual([]);
    expect(acked.length).toBeGreaterThan(2000);
    if (signal === 'SIGTERM') expect(r.logs.some((log) => log.msg === 'stopped')).toBe(true);
  }, 30_000);
});

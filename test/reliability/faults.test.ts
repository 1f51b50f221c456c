/**
 * Faults under load: SIGTERM and SIGKILL while clients post. The promise checked: every event
 * answered 200 is on stdout, because an answer only follows a completed write.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { Pki } from '../../apps/receiver/test/support/certificates';
import { type ReceiverProcess, runtimes, startReceiver } from '../support/receiver';

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

/** What the clients have seen so far; read while they run. */
interface Load {
  /** auditIDs of batches answered 200. */
  readonly acked: string[];
  /** Requests sent and not yet answered (or failed). */
  inFlight: number;
}

/** Clients post until the receiver stops answering. */
async function load(r: ReceiverProcess, clients: number, state: Load): Promise<void> {
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let n = 0; ; n++) {
        const { ids, body } = batch(client, n);
        state.inFlight++;
        try {
          const response = await fetch(`${r.url}/audit?timeout=30s`, {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/json' },
          });
          await response.arrayBuffer();
          if (response.status === 200) state.acked.push(...ids);
          else if (response.status !== 503) throw new Error(`unexpected ${response.status}`);
        } catch (error) {
          if ((error as Error).message.startsWith('unexpected')) throw error;
          return; // connection refused or reset: the receiver is gone
        } finally {
          state.inFlight--;
        }
        if (r.child.exitCode !== null || r.child.signalCode !== null) return;
      }
    }),
  );
}

const cases = runtimes.flatMap((runtime) =>
  (['SIGTERM', 'SIGKILL'] as const).flatMap((signal) =>
    [0, 5].map((slowReaderMs) => ({ runtime, name: runtime.name, signal, slowReaderMs })),
  ),
);

/** Batches answered 200 before the signal: enough that stdout has been busy for a while. */
const ACKED_BEFORE_SIGNAL = 10;

describe.each(cases)('$signal under load on $name, stdout read with $slowReaderMs ms pauses', (c) => {
  it('leaves every event answered 200 on stdout', async () => {
    receiver = await startReceiver({ command: c.runtime.command, slowReaderMs: c.slowReaderMs });
    const r = receiver;
    const state: Load = { acked: [], inFlight: 0 };
    const running = load(r, 8, state);
    // Whatever the machine's speed: the signal lands once some batches were answered and while
    // others are being posted (the clients post again as soon as they are answered).
    await r.waitFor(() => state.acked.length >= ACKED_BEFORE_SIGNAL * 100 && state.inFlight > 0, 40_000);
    const inFlightAtSignal = state.inFlight;
    r.child.kill(c.signal);
    await running;
    // Resolves once the process has exited and its stdout is read to the end.
    const exit = await r.exited;
    expect(exit).toBe(c.signal === 'SIGTERM' ? 0 : 'SIGKILL');
    expect(inFlightAtSignal).toBeGreaterThan(0);
    const written = new Set(r.lines.map((line) => JSON.parse(line).auditID as string));
    const missing = state.acked.filter((id) => !written.has(id));
    expect(missing).toEqual([]);
    if (c.signal === 'SIGTERM') expect(r.logs.some((log) => log.msg === 'stopped')).toBe(true);
  }, 60_000);
});

/**
 * Go's http.Transport, which the API server's webhook client uses, dials connections ahead of
 * need and parks them unused (a request that found another idle connection first leaves its
 * fresh one in the pool). Such a connection carries no request, so it must not hold SIGTERM's
 * drain until SHUTDOWN_TIMEOUT_MS, after which the receiver would exit 1 "with requests
 * unfinished"; the kube-apiserver suite (test/apiserver) met this on every rolling restart.
 */
describe.each(runtimes)('SIGTERM with connections that never sent a request, on $name', (runtime) => {
  it.each(['http', 'https'] as const)(
    'drains at once and exits 0 (%s)',
    async (scheme) => {
      const pki = new Pki();
      try {
        const ca = pki.createCa('ca');
        const server = pki.issue(ca, 'server', { ips: ['127.0.0.1'] });
        receiver = await startReceiver({
          command: runtime.command,
          // Far longer than the test's own timeout: only a drain that does not wait for it passes.
          env: { TLS_CERT_FILE: server.certFile, TLS_KEY_FILE: server.keyFile, SHUTDOWN_TIMEOUT_MS: '600000' },
          portIndex: scheme === 'https' ? 1 : undefined,
        });
        const r = receiver;
        const sockets = await Promise.all(
          [0, 1].map(
            () =>
              new Promise<Socket>((resolve, reject) => {
                const socket =
                  scheme === 'https'
                    ? tlsConnect({ host: '127.0.0.1', port: r.port, ca: ca.cert }, () => resolve(socket))
                    : connect({ host: '127.0.0.1', port: r.port }, () => resolve(socket));
                socket.on('error', reject);
              }),
          ),
        );
        r.child.kill('SIGTERM');
        expect(await r.exited).toBe(0);
        for (const socket of sockets) socket.destroy();
        expect(r.logs.some((log) => log.msg === 'stopped')).toBe(true);
      } finally {
        pki.remove();
      }
    },
    20_000,
  );
});

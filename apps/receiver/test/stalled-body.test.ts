/**
 * Request bodies that stop arriving, with the built receiver as a real process and real sockets,
 * on every runtime: a stalled body is answered 408 and its connection closed once no byte has
 * come for 10 s, so the bytes it holds go back to MAX_INFLIGHT_BYTES (real batches get through
 * again, well within the API server's 30 s), and a SIGTERM does not wait out the drain for it.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { postAudit, type ReceiverProcess, startReceiver } from '../../../test/support/receiver';
import { auditIds, batch } from './support/events';
import { runtimes } from './support/runtimes';

const MAX_INFLIGHT_BYTES = 100_000;
/** Before the fix, Node held a stalled body until its 60 s request timeout and Bun for ever. */
const WITHIN_MS = 25_000;

let receiver: ReceiverProcess | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await receiver?.stop();
  receiver = undefined;
});

/** Sends the headers of a POST declaring `declared` body bytes, then `sent` bytes of it, then nothing. */
async function stall(port: number, declared: number, sent: number) {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let response = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    response += chunk;
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  socket.write(
    `POST /audit?timeout=30s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`,
  );
  socket.write(Buffer.alloc(sent, 32));
  return {
    /** Resolves when the receiver has closed the connection, with what it answered. */
    async closed() {
      await closed;
      return response;
    },
  };
}

describe.each(runtimes)('stalled bodies on $name', ({ command }) => {
  it('two stalled uploads holding all of MAX_INFLIGHT_BYTES get 408 and give it back; a real batch gets through', async () => {
    receiver = await startReceiver({ command, env: { MAX_INFLIGHT_BYTES: String(MAX_INFLIGHT_BYTES) } });
    const r = receiver;
    // Together the two hold the whole budget, each one byte short of its declared length.
    const attackers = [await stall(r.port, 50_000, 49_999), await stall(r.port, 50_000, 49_999)];
    // What must hold first: the stalled uploads do hold the budget. An empty batch (which writes
    // nothing when taken) is refused once they do; how soon depends on the machine, not the receiver.
    const empty = '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}';
    for (let probe = await postAudit(`${r.url}/audit`, empty); probe.status !== 503; ) {
      expect(probe.status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 50));
      probe = await postAudit(`${r.url}/audit`, empty);
    }

    const started = Date.now();
    let answered: Response | undefined;
    // As the API server does: re-post after Retry-After.
    while (Date.now() - started < WITHIN_MS) {
      const response = await postAudit(`${r.url}/audit`, batch(100, 'real'));
      if (response.status === 200) {
        answered = response;
        break;
      }
      expect(response.status).toBe(503);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    expect(answered?.status).toBe(200);
    expect(await answered?.json()).toMatchObject({ received: 100, written: 100 });
    await r.waitFor(() => r.lines.length >= 100);
    expect(auditIds(r.lines)).toEqual(Array.from({ length: 100 }, (_, i) => `real-${i}`));
    // The receiver ended both stalled uploads itself, with 408, and closed their connections.
    for (const attacker of attackers) {
      const response = await attacker.closed();
      expect(response).toMatch(/^HTTP\/1\.1 408 /);
      expect(response).toContain('{"error":"no body bytes for 10000 ms"}');
    }
    expect(r.child.exitCode).toBeNull();
  }, 60_000);

  it('a SIGTERM after a stalled body drains and exits 0 without waiting out SHUTDOWN_TIMEOUT_MS', async () => {
    receiver = await startReceiver({
      command,
      env: { SHUTDOWN_TIMEOUT_MS: String(WITHIN_MS), BODY_IDLE_TIMEOUT_MS: '2000' },
    });
    const r = receiver;
    const attacker = await stall(r.port, 1000, 100);
    // The request has reached the app (its body is being read) before the signal.
    await new Promise((resolve) => setTimeout(resolve, 500));
    r.child.kill('SIGTERM');
    expect(await r.exited).toBe(0);
    expect(r.logs.some((log) => log.msg === 'shutdown timed out; exiting with requests unfinished')).toBe(false);
    const answer = await attacker.closed();
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('{"error":"no body bytes for 2000 ms"}');
  }, 60_000);
});

/**
 * HTTP-level abuse of the running receiver: lying Content-Length, Expect: 100-continue,
 * pipelining, hundreds of connections, trickled bodies and stalled headers. Raw sockets where
 * fetch would tidy the abuse away.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postAudit, type ReceiverProcess, startReceiver } from '../support/receiver';

let receiver: ReceiverProcess;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  expect(receiver.child.exitCode).toBeNull();
  expect(await receiver.stop()).toBe(0);
});

let counter = 0;
const batch = (n = 1) =>
  JSON.stringify({
    kind: 'EventList',
    apiVersion: 'audit.k8s.io/v1',
    items: Array.from({ length: n }, () => ({
      level: 'Metadata',
      auditID: `http-${counter++}`,
      stage: 'ResponseComplete',
      requestURI: '/api/v1/pods',
      verb: 'list',
    })),
  });

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(receiver.port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/**
 * What the server sends until it closes the connection, or until `answers` responses have come
 * (`ms` only bounds a wait that should end sooner: a busy machine must not change the result).
 */
function readAll(socket: Socket, answers = Number.POSITIVE_INFINITY, ms = 20_000): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const done = () => resolve(data);
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      data += chunk;
      if (statuses(data).length >= answers) done();
    });
    socket.on('close', done);
    socket.on('error', done);
    setTimeout(done, ms);
  });
}

const request = (body: string, headers: Record<string, string | number> = {}) =>
  `POST /audit?timeout=30s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${Object.entries({
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n${body}`;

const statuses = (raw: string) => [...raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));

describe('raw HTTP', () => {
  it('a Content-Length shorter than the body: the body is cut there and rejected; no lines', async () => {
    const before = receiver.lines.length;
    const body = batch();
    const socket = await open();
    const reply = readAll(socket, 1);
    socket.write(request(body, { 'Content-Length': body.length - 10 }));
    const codes = statuses(await reply);
    expect(codes[0]).toBe(400);
    expect(receiver.lines.length).toBe(before);
    socket.destroy();
  });

  it('a Content-Length longer than the body: no answer until the client gives up; no lines', async () => {
    const before = receiver.lines.length;
    const body = batch();
    const socket = await open();
    // Waiting a second for an answer that must not come: a slow machine cannot make one appear.
    const reply = readAll(socket, 1, 1000);
    socket.write(request(body, { 'Content-Length': body.length + 100 }));
    expect(statuses(await reply)).toEqual([]);
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(receiver.lines.length).toBe(before);
  });

  it('Expect: 100-continue gets 100 Continue, then the batch is taken', async () => {
    const before = receiver.lines.length;
    const body = batch(2);
    const socket = await open();
    const head = request('', { 'Content-Length': Buffer.byteLength(body), Expect: '100-continue' });
    let data = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      data += chunk;
    });
    socket.write(head);
    await receiver.waitFor(() => data.includes('100 Continue'));
    socket.write(body);
    await receiver.waitFor(() => /HTTP\/1\.1 200/.test(data));
    // The 200 and the lines travel different pipes: wait for the lines, then check there are no more.
    await receiver.waitFor(() => receiver.lines.length >= before + 2);
    expect(receiver.lines.length).toBe(before + 2);
    socket.destroy();
  });

  it('pipelined requests are answered in order', async () => {
    const before = receiver.lines.length;
    const socket = await open();
    const reply = readAll(socket, 3);
    socket.write(request(batch(1)) + request('not json') + request(batch(3)));
    expect(statuses(await reply)).toEqual([200, 400, 200]);
    await receiver.waitFor(() => receiver.lines.length >= before + 4);
    expect(receiver.lines.length).toBe(before + 4);
    socket.destroy();
  });

  it('a body trickled one byte at a time is read whole', async () => {
    const before = receiver.lines.length;
    const body = batch(1);
    const socket = await open();
    const reply = readAll(socket, 1);
    const raw = request(body);
    for (const char of raw) {
      socket.write(char);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await receiver.waitFor(() => receiver.lines.length === before + 1);
    socket.end();
    expect(statuses(await reply)).toEqual([200]);
  });

  it('stalled headers do not block others, and the stalled connection is closed', async () => {
    const socket = await open();
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.resume(); // read, so the server's close is seen
    socket.write('POST /audit HTTP/1.1\r\nHost: x\r\nContent-Ty');
    // Others are served meanwhile.
    expect((await postAudit(`${receiver.url}/audit`, batch(1))).status).toBe(200);
    await closed; // the server's headers timeout (15 s) closes it
  }, 30_000);

  it('hundreds of concurrent connections are all answered and written once', async () => {
    const before = receiver.lines.length;
    const bodies = Array.from({ length: 300 }, () => batch(5));
    const answers = await Promise.all(
      bodies.map(async (body) => {
        const socket = await open();
        const reply = readAll(socket, 1);
        socket.end(request(body, { Connection: 'close' }));
        return statuses(await reply)[0];
      }),
    );
    expect(answers.every((status) => status === 200)).toBe(true);
    await receiver.waitFor(() => receiver.lines.length === before + 1500);
    const ids = receiver.lines.slice(before).map((line) => JSON.parse(line).auditID);
    expect(new Set(ids).size).toBe(1500);
  }, 30_000);
});

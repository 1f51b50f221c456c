/**
 * HTTPS and mTLS against the built receiver as a real process: real handshakes, with
 * certificates made by openssl, mounted the way the kubelet mounts a Secret and rotated the same
 * way.
 */
import { X509Certificate } from 'node:crypto';
import { Agent } from 'node:https';
import { checkServerIdentity, connect } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ReceiverProcess, startReceiver } from '../../../test/support/receiver';
import { type KeyPair, Pki } from './support/certificates';
import { auditIds, batch } from './support/events';
import { eventually, httpsRequest } from './support/https';
import { parsePrometheusText, sampleValue } from './support/prometheus-text';
import { runtimes, runUntilExit } from './support/runtimes';
import { SecretVolume } from './support/secret-volume';

/** What a Service ClusterIP looks like; the API server connects to it and checks it in the SANs. Nothing is sent to it. */
const CLUSTER_IP = '10.96.0.10';
const JSON_HEADERS = { 'content-type': 'application/json' };

let pki: Pki;
let ca: KeyPair;
let server1: KeyPair;
let server2: KeyPair;
let client: KeyPair;
let otherCa: KeyPair;
let otherClient: KeyPair;

beforeAll(() => {
  pki = new Pki();
  ca = pki.createCa('kube-audit-ca');
  server1 = pki.issue(ca, 'receiver-1', { ips: ['127.0.0.1', CLUSTER_IP], dns: ['kube-audit.kube-audit.svc'] });
  server2 = pki.issue(ca, 'receiver-2', { ips: ['127.0.0.1', CLUSTER_IP], dns: ['kube-audit.kube-audit.svc'] });
  client = pki.issue(ca, 'kube-apiserver');
  otherCa = pki.createCa('other-ca');
  otherClient = pki.issue(otherCa, 'intruder');
});
afterAll(() => pki.remove());

let receiver: ReceiverProcess | undefined;
let volume: SecretVolume | undefined;
afterEach(async () => {
  await receiver?.stop();
  receiver = undefined;
  volume?.remove();
  volume = undefined;
});

const fingerprint = (pair: KeyPair) => new X509Certificate(pair.cert).fingerprint256;
const serverFiles = (pair: KeyPair) => ({ 'tls.crt': pair.cert, 'tls.key': pair.key });
const tlsEnv = (v: SecretVolume, extra: Record<string, string> = {}) => ({
  TLS_CERT_FILE: v.path('tls.crt'),
  TLS_KEY_FILE: v.path('tls.key'),
  ...extra,
});
const listening = (r: ReceiverProcess) =>
  r.logs.find((log) => log.msg === 'listening') as { ports: number[]; http?: number; https?: number };

/** All requests the app has answered, any status. */
const requestCount = (metrics: ReturnType<typeof parsePrometheusText>) =>
  (metrics.get('kube_audit_requests_total')?.samples ?? []).reduce((sum, sample) => sum + sample.value, 0);

async function scrape(r: ReceiverProcess) {
  const response = await fetch(`http://127.0.0.1:${listening(r).http}/metrics`);
  return parsePrometheusText(await response.text());
}

interface Exchange {
  /** The client's side of the handshake finished. */
  handshake: boolean;
  /** What the server answered to a GET /healthz, '' when nothing. */
  response: string;
  /** The error that ended the connection, if any. */
  error: string | undefined;
}

/** Connects, sends GET /healthz once the handshake is done, and reports what came back. */
function tlsExchange(port: number, pair: KeyPair | undefined, maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<Exchange> {
  return new Promise((resolve) => {
    const result: Exchange = { handshake: false, response: '', error: undefined };
    const socket = connect({ host: '127.0.0.1', port, ca: ca.cert, cert: pair?.cert, key: pair?.key, maxVersion });
    socket.setEncoding('utf8');
    socket.on('secureConnect', () => {
      result.handshake = true;
      socket.write('GET /healthz HTTP/1.1\r\nHost: kube-audit\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', (chunk: string) => {
      result.response += chunk;
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      result.error = error.code ?? error.message;
    });
    socket.on('close', () => resolve(result));
  });
}

describe.each(runtimes)('HTTPS on $name', (runtime) => {
  const { command } = runtime;

  it('serves the mounted certificate, trusted through its CA and valid for 127.0.0.1 and the ClusterIP', async () => {
    volume = new SecretVolume(serverFiles(server1));
    receiver = await startReceiver({ command, env: tlsEnv(volume), portIndex: 1 });
    const r = receiver;

    const health = await httpsRequest(`${r.url}/healthz`, { ca: ca.cert });
    expect(health.status).toBe(200);
    expect(health.peer.fingerprint256).toBe(fingerprint(server1));
    expect(health.peer.subjectaltname).toContain(`IP Address:${CLUSTER_IP}`);

    // As the API server does: the certificate is checked for the ClusterIP the webhook URL names.
    const posted = await httpsRequest(`${r.url}/audit?timeout=30s`, {
      ca: ca.cert,
      method: 'POST',
      headers: JSON_HEADERS,
      body: batch(3, 'over-https'),
      checkServerIdentity: (_host, cert) => checkServerIdentity(CLUSTER_IP, cert),
    });
    expect(posted.status).toBe(200);
    await r.waitFor(() => r.lines.length === 3);
    expect(auditIds(r.lines)).toEqual(['over-https-0', 'over-https-1', 'over-https-2']);

    // Another address is not in the SANs; another CA does not vouch for the certificate.
    expect(checkServerIdentity('10.96.0.11', health.peer)).toBeInstanceOf(Error);
    await expect(httpsRequest(`${r.url}/healthz`, { ca: otherCa.cert })).rejects.toMatchObject({
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    // Plain HTTP is still served on PORT.
    expect((await fetch(`http://127.0.0.1:${listening(r).http}/healthz`)).status).toBe(200);
    // Without a client CA, no client certificate is asked for.
    expect((await tlsExchange(r.port, undefined, 'TLSv1.3')).response).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('with TLS_CLIENT_CA_FILE, completes handshakes only with clients holding a certificate from that CA', async () => {
    volume = new SecretVolume({ ...serverFiles(server1), 'ca.crt': ca.cert });
    receiver = await startReceiver({
      command,
      env: tlsEnv(volume, { TLS_CLIENT_CA_FILE: volume.path('ca.crt') }),
      portIndex: 1,
    });
    const r = receiver;
    const url = `${r.url}/audit?timeout=30s`;
    const post = (pair?: KeyPair) =>
      httpsRequest(url, {
        ca: ca.cert,
        cert: pair?.cert,
        key: pair?.key,
        method: 'POST',
        headers: JSON_HEADERS,
        body: batch(2, `mtls-${pair ? 'client' : 'none'}`),
      });

    expect((await post(client)).status).toBe(200);
    // Refused in the handshake, so nothing reaches HTTP: no answer, no request counted. Without a
    // certificate, the server's handshake fails with an alert (over TLS 1.2 before the client's
    // side completes). A certificate from another CA is checked as the server's side completes,
    // and the connection is dropped there (Node and Bun alike send no alert for it).
    const requestsBefore = requestCount(await scrape(r));
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const none = await tlsExchange(r.port, undefined, version);
      expect(none.response).toBe('');
      expect(none.handshake).toBe(version === 'TLSv1.3');
      expect(none.error).toBe(
        version === 'TLSv1.2' ? 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' : 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
      );
      const other = await tlsExchange(r.port, otherClient, version);
      expect(other.response, `${version}, certificate from another CA`).toBe('');
      expect(other.error ?? 'closed').toMatch(/^(ECONNRESET|closed)$/);
    }
    // The same through an HTTPS client: an error, never a status.
    for (const attempt of [undefined, otherClient]) {
      const outcome = await post(attempt).then(
        ({ status }) => `answered ${status}`,
        (error: NodeJS.ErrnoException) => error.code,
      );
      expect(outcome).toMatch(/^(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|ECONNRESET)$/);
    }
    // Only the scrape itself was counted in between.
    expect(requestCount(await scrape(r)) - requestsBefore).toBe(1);
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      expect((await tlsExchange(r.port, client, version)).response, version).toMatch(/^HTTP\/1\.1 200 /);
    }

    await r.waitFor(() => r.lines.length === 2);
    expect(auditIds(r.lines)).toEqual(['mtls-client-0', 'mtls-client-1']);
    const warning = r.logs.find((log) => String(log.msg).startsWith('TLS_CLIENT_CA_FILE applies to HTTPS only'));
    expect(warning?.level).toBe('warn');
  });

  it('puts a rotated certificate in service for new connections, without dropping open ones', async () => {
    volume = new SecretVolume(serverFiles(server1));
    receiver = await startReceiver({ command, env: tlsEnv(volume), portIndex: 1 });
    const r = receiver;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await httpsRequest(`${r.url}/healthz`, { ca: ca.cert, agent });
      expect(first.peer.fingerprint256).toBe(fingerprint(server1));

      // A batch still arriving while the Secret changes: its connection is set up (the handshake
      // done) before the change, however long that takes.
      let connected: () => void = () => {};
      const handshake = new Promise<void>((resolve) => {
        connected = resolve;
      });
      const inFlight = httpsRequest(`${r.url}/audit?timeout=30s`, {
        ca: ca.cert,
        method: 'POST',
        headers: JSON_HEADERS,
        body: batch(2000, 'in-flight'),
        trickle: { chunks: 20, delayMs: 75 },
        onSecureConnect: () => connected(),
      });
      await handshake;
      volume.update(serverFiles(server2));

      await eventually(
        async () =>
          (await httpsRequest(`${r.url}/healthz`, { ca: ca.cert })).peer.fingerprint256 === fingerprint(server2),
      );
      const answered = await inFlight;
      expect(answered.status).toBe(200);
      expect(answered.peer.fingerprint256).toBe(fingerprint(server1));
      await r.waitFor(() => r.lines.length === 2000);

      if (runtime.name === 'node') {
        // The idle keep-alive connection is still the same one, with the certificate it started with.
        const again = await httpsRequest(`${r.url}/healthz`, { ca: ca.cert, agent });
        expect(again.reused).toBe(true);
        expect(again.localPort).toBe(first.localPort);
        expect(again.peer.fingerprint256).toBe(fingerprint(server1));
      }
    } finally {
      agent.destroy();
    }

    // A key that does not belong to the certificate is refused; the certificate in service stays.
    volume.update({ 'tls.crt': server1.cert, 'tls.key': server2.key });
    await r.waitFor(() => r.logs.some((log) => log.msg === 'tls files rejected; keeping the certificate in service'));
    expect((await httpsRequest(`${r.url}/healthz`, { ca: ca.cert })).peer.fingerprint256).toBe(fingerprint(server2));

    const loaded = r.logs.filter((log) => log.msg === 'tls certificate loaded');
    expect(loaded.map((log) => log.fingerprint256)).toEqual([fingerprint(server1), fingerprint(server2)]);
    const metrics = await scrape(r);
    expect(sampleValue(metrics, 'kube_audit_file_reloads_total', { file: 'tls', result: 'success' })).toBe(1);
    expect(sampleValue(metrics, 'kube_audit_file_reloads_total', { file: 'tls', result: 'failure' })).toBe(1);
    expect(sampleValue(metrics, 'kube_audit_tls_certificate_expiration_timestamp_seconds')).toBe(
      Date.parse(new X509Certificate(server2.cert).validTo) / 1000,
    );
  });

  it('starts HTTPS when the certificate appears after start-up', async () => {
    volume = new SecretVolume();
    receiver = await startReceiver({ command, env: tlsEnv(volume) });
    const r = receiver;
    expect(listening(r).https).toBeUndefined();
    volume.update(serverFiles(server1));
    await r.waitFor(() => r.logs.some((log) => log.msg === 'tls certificate loaded'));
    const { port } = r.logs.find((log) => log.msg === 'tls certificate loaded') as { port: number };
    const answer = await httpsRequest(`https://127.0.0.1:${port}/healthz`, { ca: ca.cert });
    expect(answer.status).toBe(200);
    expect(answer.peer.fingerprint256).toBe(fingerprint(server1));
  });

  it('serves HTTPS only with HTTP_ENABLED=false', async () => {
    volume = new SecretVolume(serverFiles(server1));
    receiver = await startReceiver({ command, env: tlsEnv(volume, { HTTP_ENABLED: 'false' }), portIndex: 0 });
    const log = listening(receiver);
    expect(log.http).toBeUndefined();
    expect(log.ports).toEqual([log.https]);
    expect((await httpsRequest(`${receiver.url}/readyz`, { ca: ca.cert })).status).toBe(200);
    // The drain covers the HTTPS listener too, and the last log line reaches stderr.
    const r = receiver;
    // stop() resolves once the process has exited and its stderr is read to the end.
    expect(await r.stop()).toBe(0);
    expect(r.logs.at(-1)).toMatchObject({ msg: 'stopped', exitCode: 0 });
  });

  it('exits 2 when HTTP_ENABLED=false and there is no certificate: nothing would listen', async () => {
    volume = new SecretVolume();
    const { code, stderr } = await runUntilExit(runtime, tlsEnv(volume, { HTTP_ENABLED: 'false' }));
    expect(code).toBe(2);
    expect(stderr).toContain('HTTP_ENABLED=false');
    expect(stderr).toContain('nothing would listen');
  });

  it('exits 2 naming the files when the key does not belong to the certificate, or the client CA is missing', async () => {
    volume = new SecretVolume({ 'tls.crt': server1.cert, 'tls.key': server2.key });
    const mismatch = await runUntilExit(runtime, tlsEnv(volume));
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr).toContain('TLS_CERT_FILE/TLS_KEY_FILE');

    volume.update(serverFiles(server1));
    const noCa = await runUntilExit(runtime, tlsEnv(volume, { TLS_CLIENT_CA_FILE: volume.path('ca.crt') }));
    expect(noCa.code).toBe(2);
    expect(noCa.stderr).toContain('TLS_CLIENT_CA_FILE');
  });
});

/**
 * deploy/mtls, the kustomize Component for a receiver only the API server can talk to: what it
 * changes in the manifests, and the receiver run with exactly the environment it produces.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { checkServerIdentity } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { type INetworkPolicy, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { type ReceiverProcess, startReceiver } from '../../../test/support/receiver';
import { type KeyPair, Pki } from './support/certificates';
import { batch } from './support/events';
import { httpsRequest } from './support/https';
import { SecretVolume } from './support/secret-volume';

const deployDir = fileURLToPath(new URL('../../../deploy', import.meta.url));
const hasKubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

type Manifest = { kind: string; metadata: { name: string } } & Record<string, unknown>;

/** `kubectl kustomize` of an overlay with `resources` and `components`, as an operator would write it. */
function build(components: string[]): Manifest[] {
  const overlay = mkdtempSync(join(tmpdir(), 'kube-audit-overlay-'));
  try {
    const rel = (dir: string) => relative(overlay, join(deployDir, dir)) || '.';
    writeFileSync(
      join(overlay, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources:',
        `  - ${rel('')}`,
        ...(components.length > 0 ? ['components:', ...components.map((c) => `  - ${rel(c)}`)] : []),
        '',
      ].join('\n'),
    );
    const result = spawnSync('kubectl', ['kustomize', overlay], {
      encoding: 'utf8',
      env: { ...process.env, KUBECONFIG: '/dev/null' },
    });
    if (result.status !== 0) throw new Error(result.stderr);
    return parseAllDocuments(result.stdout, { version: '1.1' }).map((doc) => doc.toJS() as Manifest);
  } finally {
    rmSync(overlay, { recursive: true, force: true });
  }
}

/** What a ClusterIP looks like; the API server would dial it. Nothing is sent to it. */
const CLUSTER_IP = '10.96.0.10';

const find = <T>(objects: Manifest[], kind: string) => objects.find((o) => o.kind === kind) as T;

describe.skipIf(!hasKubectl)('deploy/mtls', () => {
  const plain = hasKubectl ? build([]) : [];
  const hardened = hasKubectl ? build(['mtls']) : [];
  const deployment = find<IDeployment>(hardened, 'Deployment');
  const container = deployment?.spec?.template.spec?.containers[0];
  const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value ?? '']));

  it('yields valid manifests that differ from the plain ones only in the Deployment and the NetworkPolicy', () => {
    expect(() => new Deployment(deployment).validate()).not.toThrow();
    expect(() => new NetworkPolicy(find<INetworkPolicy>(hardened, 'NetworkPolicy')).validate()).not.toThrow();
    expect(hardened.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(
      plain.map((o) => `${o.kind}/${o.metadata.name}`),
    );
    const changed = hardened.filter((o, i) => JSON.stringify(o) !== JSON.stringify(plain[i])).map((o) => o.kind);
    expect(changed).toEqual(['Deployment', 'NetworkPolicy']);
  });

  it('turns HTTP off, requires client certificates from the Secret, and probes over TCP', () => {
    expect(env.HTTP_ENABLED).toBe('false');
    expect(env.TLS_CLIENT_CA_FILE).toBe('/certificates/ca.crt');
    expect(container?.volumeMounts?.find((m) => m.mountPath === '/certificates')).toBeDefined();
    const https = container?.ports?.find((p) => p.name === 'https');
    for (const probe of [container?.livenessProbe, container?.readinessProbe]) {
      expect(probe?.httpGet).toBeUndefined();
      expect(probe?.tcpSocket?.port).toBe('https');
    }
    const policy = find<INetworkPolicy>(hardened, 'NetworkPolicy');
    for (const rule of policy.spec?.ingress ?? []) {
      expect(rule.ports).toEqual([{ protocol: 'TCP', port: https?.containerPort }]);
    }
  });

  describe('the receiver with that environment', () => {
    let pki: Pki;
    let ca: KeyPair;
    let volume: SecretVolume;
    let receiver: ReceiverProcess;
    beforeAll(async () => {
      pki = new Pki();
      ca = pki.createCa('kube-audit-ca');
      const server = pki.issue(ca, 'receiver', { ips: ['127.0.0.1', CLUSTER_IP] });
      volume = new SecretVolume({ 'tls.crt': server.cert, 'tls.key': server.key, 'ca.crt': ca.cert });
      // The Deployment's variables, with the Secret's mount point where the test mounted it.
      const local = Object.fromEntries(
        Object.entries(env).map(([name, value]) => [name, value.replace(/^\/certificates\//, `${volume.dir}/`)]),
      );
      receiver = await startReceiver({ env: { ...local, PORT: '0', TLS_PORT: '0' }, portIndex: 0 });
    });
    afterAll(async () => {
      await receiver?.stop();
      volume?.remove();
      pki?.remove();
    });

    it('listens on HTTPS only, answers the kubelet-style TCP probe, and serves only holders of a client certificate', async () => {
      const listening = receiver.logs.find((log) => log.msg === 'listening') as { http?: number; ports: number[] };
      expect(listening.http).toBeUndefined();
      expect(listening.ports).toEqual([receiver.port]);
      await new Promise<void>((resolve, reject) => {
        const socket = connect(receiver.port, '127.0.0.1', () => {
          socket.end();
          resolve();
        });
        socket.on('error', reject);
      });
      const apiServer = pki.issue(ca, 'kube-apiserver');
      const post = (pair?: KeyPair) =>
        httpsRequest(`${receiver.url}/audit?timeout=30s`, {
          ca: ca.cert,
          cert: pair?.cert,
          key: pair?.key,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: batch(1, 'hardened'),
        });
      expect((await post(apiServer)).status).toBe(200);
      await expect(post()).rejects.toMatchObject({
        code: expect.stringMatching(/^(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|ECONNRESET)$/),
      });
    });

    it('takes a batch posted as deploy/apiserver/webhook-mtls.kubeconfig.yaml sets the API server up', async () => {
      type Kubeconfig = {
        clusters: { cluster: Record<string, string> }[];
        users: { user: Record<string, string> }[];
      };
      const kubeconfig = parseAllDocuments(
        readFileSync(join(deployDir, 'apiserver', 'webhook-mtls.kubeconfig.yaml'), 'utf8'),
      )[0]?.toJS() as Kubeconfig;
      const cluster = kubeconfig.clusters[0]?.cluster ?? {};
      const user = kubeconfig.users[0]?.user ?? {};
      // The files the kubeconfig names, as the operator would have put them on the control plane.
      const apiServer = pki.issue(ca, 'kube-apiserver');
      const files: Record<string, string> = {
        [cluster['certificate-authority'] ?? 'ca']: ca.cert,
        [user['client-certificate'] ?? 'cert']: apiServer.cert,
        [user['client-key'] ?? 'key']: apiServer.key,
      };
      expect(Object.keys(files)).toHaveLength(3);
      // client-go: POST to the server URL's path, with ?timeout=30s, the certificate checked for
      // the URL's host (the ClusterIP), which here is reached on 127.0.0.1.
      const server = new URL((cluster.server ?? '').replace('CLUSTER_IP', CLUSTER_IP));
      expect(server.protocol).toBe('https:');
      const answer = await httpsRequest(`${receiver.url}${server.pathname}?timeout=30s`, {
        ca: files[cluster['certificate-authority'] ?? ''] ?? '',
        cert: files[user['client-certificate'] ?? ''],
        key: files[user['client-key'] ?? ''],
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, */*' },
        body: batch(2, 'kubeconfig'),
        checkServerIdentity: (_host, cert) => checkServerIdentity(server.hostname, cert),
      });
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ received: 2, written: 2 });
    });
  });
});

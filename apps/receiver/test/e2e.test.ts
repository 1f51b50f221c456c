/**
 * The built receiver as a real process: real HTTP, real stdout, real signals.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES } from '../../../test/support/fixtures';
import { postAudit, type ReceiverProcess, runtimes, startReceiver } from '../../../test/support/receiver';
import { runUntilExit } from './support/runtimes';

const example = readFileSync(`${FIXTURES}examples/eventlist.json`, 'utf8');
const exampleItems = (JSON.parse(example) as { items: Record<string, unknown>[] }).items;

function batch(n: number, prefix: string): string {
  const items = Array.from({ length: n }, (_, i) => ({
    level: 'Metadata',
    auditID: `${prefix}-${i}`,
    stage: 'ResponseComplete',
    requestURI: `/api/v1/namespaces/ns-${i % 7}/pods?limit=500`,
    verb: 'list',
    user: { username: `user-${i % 13}`, groups: ['system:authenticated'] },
    sourceIPs: ['10.0.0.1'],
    objectRef: { resource: 'pods', namespace: `ns-${i % 7}`, apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: '2026-11-27T05:00:00.000000Z',
    stageTimestamp: '2026-11-27T05:00:00.001000Z',
  }));
  return JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items });
}

let receiver: ReceiverProcess | undefined;
afterEach(async () => {
  await receiver?.stop();
  receiver = undefined;
});

describe.each(runtimes)('receiver on $name', (runtime) => {
  const { command } = runtime;
  it('turns the example EventList into one line per event on stdout', async () => {
    receiver = await startReceiver({ command });
    const response = await postAudit(`${receiver.url}/audit`, example);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      received: exampleItems.length,
      written: exampleItems.length,
      dropped: { policy: 0, duplicate: 0 },
      invalid: 0,
    });
    // 200 means written: the lines are there when the answer arrives (allowing for pipe transit).
    await receiver.waitFor(() => receiver?.lines.length === exampleItems.length);
    const lines = receiver.lines.map((line) => JSON.parse(line));
    expect(lines.map((line) => line.auditID)).toEqual(exampleItems.map((item) => item.auditID));
    for (const line of lines) expect(Object.keys(line).slice(0, 2)).toEqual(['kind', 'apiVersion']);
    expect(receiver.logs.every((log) => typeof log.level === 'string' && typeof log.msg === 'string')).toBe(true);
  });

  it('writes a Secret read that reuses an earlier request’s auditID, and drops only a true re-send', async () => {
    // kube-apiserver takes the client's Audit-ID header as the auditID unchanged (withAuditInit,
    // k8s.io/apiserver pkg/endpoints/filters/audit_init.go): `kubectl get cm x` and then
    // `kubectl get secret admin-token`, both with `Audit-ID: chosen`, give two events alike in
    // auditID and stage.
    receiver = await startReceiver({ command });
    const event = (requestURI: string, objectRef: Record<string, string>) => ({
      level: 'Metadata',
      auditID: 'chosen',
      stage: 'ResponseComplete',
      requestURI,
      verb: 'get',
      user: { username: 'mallory', groups: ['system:authenticated'] },
      sourceIPs: ['10.0.0.9'],
      objectRef: { ...objectRef, apiVersion: 'v1' },
      responseStatus: { metadata: {}, code: 200 },
      requestReceivedTimestamp: '2026-11-27T05:00:00.000000Z',
      stageTimestamp: '2026-11-27T05:00:00.001000Z',
    });
    const list = (items: unknown[]) => JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items });
    const harmless = list([
      event('/api/v1/namespaces/default/configmaps/x', { resource: 'configmaps', namespace: 'default', name: 'x' }),
    ]);
    const secretRead = list([
      event('/api/v1/namespaces/kube-system/secrets/admin-token', {
        resource: 'secrets',
        namespace: 'kube-system',
        name: 'admin-token',
      }),
    ]);
    for (const [body, written, duplicate] of [
      [harmless, 1, 0],
      [secretRead, 1, 0],
      [secretRead, 0, 1], // the API server's retry of the same batch
    ] as const) {
      const response = await postAudit(`${receiver.url}/audit`, body);
      expect(await response.json()).toMatchObject({ written, dropped: { duplicate } });
    }
    await receiver.waitFor(() => receiver?.lines.length === 2);
    expect(receiver.lines.map((line) => JSON.parse(line).requestURI)).toEqual([
      '/api/v1/namespaces/default/configmaps/x',
      '/api/v1/namespaces/kube-system/secrets/admin-token',
    ]);
  });

  it('cuts an event with a 300 KB requestURI to the default cap, keeping who, from where and the decision', async () => {
    receiver = await startReceiver({ command });
    const [item] = JSON.parse(batch(1, 'long-uri')).items as Record<string, unknown>[];
    const event = {
      ...item,
      requestURI: `/api/v1/namespaces/ns-0/pods?pad=${'x'.repeat(300_000)}`,
      impersonatedUser: { username: 'bob', groups: ['system:authenticated'] },
      userAgent: 'kubectl/v1.33.0',
      annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
    };
    const response = await postAudit(`${receiver.url}/audit`, JSON.stringify({ items: [event] }));
    expect(await response.json()).toMatchObject({ written: 1 });
    await receiver.waitFor(() => receiver?.lines.length === 1);
    const [line] = receiver.lines as [string];
    expect(Buffer.byteLength(line) + 1).toBeLessThanOrEqual(262_144);
    const out = JSON.parse(line);
    expect(out.requestURI).toMatch(/^\/api\/v1\/namespaces\/ns-0\/pods\?pad=x+\[\.\.\.\d+ bytes cut\]$/);
    for (const key of ['user', 'impersonatedUser', 'sourceIPs', 'userAgent', 'objectRef', 'auditID'])
      expect(out[key]).toEqual(event[key as keyof typeof event]);
    expect(out.annotations).toEqual({
      ...event.annotations,
      'audit.k8s.io/truncated': 'true',
      'kube-audit/cut': 'true',
    });
  });

  it('answers errors with short JSON and keeps serving', async () => {
    receiver = await startReceiver({ command });
    const bad = await postAudit(`${receiver.url}/`, '{"items":[');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: expect.stringContaining('not valid JSON') });
    const unsupported = await postAudit(`${receiver.url}/post`, 'x', { 'content-type': 'text/plain' });
    expect(unsupported.status).toBe(415);
    const good = await postAudit(`${receiver.url}/post`, batch(3, 'after'));
    expect(good.status).toBe(200);
    await receiver.waitFor(() => receiver?.lines.length === 3);
  });

  it('drains on SIGTERM: a batch in flight is written and answered, then it exits 0', async () => {
    receiver = await startReceiver({ command });
    const r = receiver;
    // A large batch, sent slowly enough that SIGTERM lands while it is in flight.
    const body = new TextEncoder().encode(batch(4000, 'drain'));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= body.length) return controller.close();
        const chunk = body.subarray(sent, sent + 256 * 1024);
        sent += chunk.length;
        controller.enqueue(chunk);
        await new Promise((resolve) => setTimeout(resolve, 20));
      },
    });
    const answer = fetch(`${r.url}/audit?timeout=30s`, {
      method: 'POST',
      body: stream,
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      duplex: 'half',
    } as RequestInit);
    await new Promise((resolve) => setTimeout(resolve, 30));
    r.child.kill('SIGTERM');
    const response = await answer.catch((error: Error) => error);
    const code = await r.exited;
    expect(code).toBe(0);
    if (response instanceof Response && response.status === 200) {
      expect(r.lines).toHaveLength(4000);
    } else {
      // Not answered 200: nothing may claim to be written, and the API server will retry.
      expect(response instanceof Response ? response.status : 'network error').not.toBe(200);
    }
    expect(r.logs.some((log) => log.msg === 'shutting down')).toBe(true);
  });

  it('exits 2 naming a bad variable', async () => {
    await expect(startReceiver({ command, env: { PORT: 'eighty' } })).rejects.toThrow(/exited 2/);
  });

  it('exits 2 naming AUDIT_POLICY_FILE and the bad field of its policy, or the file it cannot read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kube-audit-policy-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Everything\n');
    const lastLine = (stderr: string) => JSON.parse(stderr.trim().split('\n').at(-1) as string);
    const invalid = await runUntilExit(runtime, { AUDIT_POLICY_FILE: bad });
    expect(invalid.code).toBe(2);
    expect(lastLine(invalid.stderr).msg).toMatch(new RegExp(`^AUDIT_POLICY_FILE: ${bad}: rules\\[0\\]\\.level: `));
    const missing = await runUntilExit(runtime, { AUDIT_POLICY_FILE: join(dir, 'none.yaml') });
    expect(missing.code).toBe(2);
    expect(lastLine(missing.stderr).msg).toBe(`AUDIT_POLICY_FILE: cannot read ${join(dir, 'none.yaml')}: ENOENT`);
  });

  it('logs the warnings of a policy it accepts, naming the variable and the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kube-audit-policy-'));
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n    colour: blue\n');
    receiver = await startReceiver({ command, env: { AUDIT_POLICY_FILE: policy } });
    const warnings = receiver.logs.filter((log) => log.level === 'warn' && log.msg === 'AUDIT_POLICY_FILE: warning');
    expect(warnings).toEqual([expect.objectContaining({ file: policy, warning: expect.stringContaining('colour') })]);
  });

  it('exits 1 with one line naming a port that is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const { code, stderr } = await runUntilExit(runtime, { PORT: String(port) });
      expect(code).toBe(1);
      const last = JSON.parse(stderr.trim().split('\n').at(-1) as string);
      expect(last).toMatchObject({ level: 'error', msg: expect.stringMatching(`^cannot listen on port ${port}: `) });
      expect(stderr).not.toMatch(/^\s+at /m);
    } finally {
      taken.close();
    }
  });
});

describe('stdout closed by its reader', () => {
  it('answers no 200 for lines it could not write and exits non-zero', async () => {
    receiver = await startReceiver();
    const r = receiver;
    r.child.stdout?.destroy();
    const response = await postAudit(`${r.url}/audit`, batch(50, 'epipe')).catch(() => undefined);
    expect(response?.status).not.toBe(200);
    expect(await r.exited).not.toBe(0);
    expect(r.logs.some((log) => String(log.msg).includes('stdout failed'))).toBe(true);
  });
});

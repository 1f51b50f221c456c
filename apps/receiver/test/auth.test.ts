/**
 * Bearer tokens from AUTH_TOKEN_FILE against the built receiver as a real process: which routes
 * need the token, and rotation of the file the way the kubelet rotates a mounted Secret.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { postAudit, type ReceiverProcess, startReceiver } from '../../../test/support/receiver';
import { auditIds, batch } from './support/events';
import { eventually } from './support/https';
import { parsePrometheusText, sampleValue } from './support/prometheus-text';
import { runtimes, runUntilExit } from './support/runtimes';
import { SecretVolume } from './support/secret-volume';

const OLD_TOKEN = 'old-3f1c9a7e5b2d4c6e8a0b1d3f5e7a9c1b';
const NEW_TOKEN = 'new-9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

let receiver: ReceiverProcess | undefined;
let volume: SecretVolume | undefined;
afterEach(async () => {
  await receiver?.stop();
  receiver = undefined;
  volume?.remove();
  volume = undefined;
});

describe.each(runtimes)('AUTH_TOKEN_FILE on $name', (runtime) => {
  const { command } = runtime;

  it('asks receive routes and /metrics for the token, leaves the probes open, and follows a rotated file', async () => {
    // A trailing newline, as `echo` or an editor leaves it, is not part of the token.
    volume = new SecretVolume({ token: `${OLD_TOKEN}\n` });
    receiver = await startReceiver({ command, env: { AUTH_TOKEN_FILE: volume.path('token') } });
    const r = receiver;

    expect((await fetch(`${r.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${r.url}/readyz`)).status).toBe(200);

    const missing = await postAudit(`${r.url}/audit`, batch(1, 'missing'));
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect(await missing.json()).toEqual({ error: 'missing or wrong bearer token' });
    expect((await postAudit(`${r.url}/post`, batch(1, 'wrong'), bearer(`${OLD_TOKEN}x`))).status).toBe(401);
    expect((await postAudit(`${r.url}/`, batch(1, 'basic'), { authorization: `Basic ${OLD_TOKEN}` })).status).toBe(401);
    expect((await postAudit(`${r.url}/audit/prod`, batch(2, 'right'), bearer(OLD_TOKEN))).status).toBe(200);

    expect((await fetch(`${r.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${r.url}/metrics`, { headers: bearer('nope') })).status).toBe(401);
    const metrics = await fetch(`${r.url}/metrics`, { headers: bearer(OLD_TOKEN) });
    expect(metrics.status).toBe(200);
    // What must hold: each of the five refusals is counted. A lower bound, because the total also
    // counts whatever else reached the receiver (a client's resend on a new connection counts too).
    const refused = sampleValue(parsePrometheusText(await metrics.text()), 'kube_audit_requests_total', {
      code: '401',
    });
    expect(refused).toBeGreaterThanOrEqual(5);

    // Rotation: the Secret changes; the new token works within about a second, the old one stops.
    volume.update({ token: NEW_TOKEN });
    await eventually(async () => (await postAudit(`${r.url}/audit`, '[]', bearer(NEW_TOKEN))).status === 200);
    expect((await postAudit(`${r.url}/audit`, batch(1, 'stale'), bearer(OLD_TOKEN))).status).toBe(401);
    expect((await postAudit(`${r.url}/audit`, batch(1, 'rotated'), bearer(NEW_TOKEN))).status).toBe(200);
    expect(r.logs.some((log) => log.msg === 'bearer token reloaded')).toBe(true);

    // An emptied file does not turn authentication off: the token in force stays.
    volume.update({ token: '' });
    const rejected = () => r.logs.some((log) => log.msg === 'bearer token file rejected; keeping the previous token');
    // The file is looked at when a request needs the token.
    await eventually(async () => (await fetch(`${r.url}/metrics`, { headers: bearer(NEW_TOKEN) })).ok && rejected());
    expect((await postAudit(`${r.url}/audit`, batch(1, 'no-token'))).status).toBe(401);
    expect((await postAudit(`${r.url}/audit`, batch(1, 'kept'), bearer(NEW_TOKEN))).status).toBe(200);

    await r.waitFor(() => r.lines.length === 4);
    expect(auditIds(r.lines)).toEqual(['right-0', 'right-1', 'rotated-0', 'kept-0']);
  });

  it.each([
    ['is missing', undefined],
    ['is empty', '\n'],
    ['holds more than one word', 'one two'],
  ])('exits 2 naming AUTH_TOKEN_FILE when the file %s', async (_case, content) => {
    volume = new SecretVolume(content === undefined ? {} : { token: content });
    const { code, stderr } = await runUntilExit(runtime, { AUTH_TOKEN_FILE: volume.path('token') });
    expect(code).toBe(2);
    const message = JSON.parse(stderr.trim().split('\n').pop() ?? '{}') as { level: string; msg: string };
    expect(message.level).toBe('error');
    expect(message.msg).toMatch(/^AUTH_TOKEN_FILE: /);
    expect(message.msg).toContain(volume.path('token'));
    // The token itself never appears in the log.
    expect(stderr).not.toContain('one two');
  });
});

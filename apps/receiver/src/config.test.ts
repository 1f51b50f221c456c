import { DEFAULT_DEDUPE_CACHE_SIZE, DEFAULT_MAX_EVENT_BYTES } from '@kube-audit/core';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  it('serves HTTP on 3000 and HTTPS on 4443 from the IKS certificate layout by default', () => {
    expect(loadConfig({})).toMatchObject({
      port: 3000,
      httpEnabled: true,
      tlsPort: 4443,
      tlsCertFile: '/certificates/tls.crt',
      tlsKeyFile: '/certificates/tls.key',
      tlsClientCaFile: undefined,
      authTokenFile: undefined,
      maxPendingBytes: 67_108_864,
      maxInflightBytes: 33_554_432,
    });
  });

  it('reads HTTP_ENABLED as a flag', () => {
    expect(loadConfig({ HTTP_ENABLED: 'false' }).httpEnabled).toBe(false);
    expect(loadConfig({ HTTP_ENABLED: ' OFF ' }).httpEnabled).toBe(false);
    expect(loadConfig({ HTTP_ENABLED: 'yes' }).httpEnabled).toBe(true);
    expect(() => loadConfig({ HTTP_ENABLED: 'maybe' })).toThrow(/^HTTP_ENABLED: must be one of/);
  });

  it('refuses the same port for HTTP and HTTPS, unless HTTP is off or the ports are picked by the OS', () => {
    expect(() => loadConfig({ PORT: '8443', TLS_PORT: '8443' })).toThrow(
      new ConfigError('TLS_PORT: must differ from PORT (both 8443)'),
    );
    expect(loadConfig({ PORT: '8443', TLS_PORT: '8443', HTTP_ENABLED: 'false' }).tlsPort).toBe(8443);
    expect(loadConfig({ PORT: '0', TLS_PORT: '0' }).port).toBe(0);
  });

  it('lets MAX_INFLIGHT_BYTES follow MAX_BODY_BYTES unless it is set', () => {
    expect(loadConfig({ MAX_BODY_BYTES: '1048576' }).maxInflightBytes).toBe(1_048_576);
    expect(loadConfig({ MAX_BODY_BYTES: '1048576', MAX_INFLIGHT_BYTES: '4096' }).maxInflightBytes).toBe(4096);
    expect(() => loadConfig({ MAX_INFLIGHT_BYTES: '-1' })).toThrow(/^MAX_INFLIGHT_BYTES: must be a whole number/);
  });

  it('takes MAX_EVENT_BYTES of 0 or at least 512, the smallest cap every event can be cut into', () => {
    expect(loadConfig({ MAX_EVENT_BYTES: '0' }).maxEventBytes).toBe(0);
    expect(loadConfig({ MAX_EVENT_BYTES: '512' }).maxEventBytes).toBe(512);
    for (const value of ['1', '511', '-1', '1k'])
      expect(() => loadConfig({ MAX_EVENT_BYTES: value })).toThrow(
        `MAX_EVENT_BYTES: must be 0 or a whole number from 512 to 1073741824 (got "${value}")`,
      );
  });

  it('reads the body timeouts and the log line cap, and names a bad value', () => {
    expect(loadConfig({})).toMatchObject({
      bodyIdleTimeoutMs: 10_000,
      bodyTimeoutMs: 30_000,
      logMaxLinesPerSecond: 100,
    });
    expect(loadConfig({ BODY_IDLE_TIMEOUT_MS: '2000', LOG_MAX_LINES_PER_SECOND: '5' })).toMatchObject({
      bodyIdleTimeoutMs: 2000,
      logMaxLinesPerSecond: 5,
    });
    expect(() => loadConfig({ LOG_MAX_LINES_PER_SECOND: '0' })).toThrow(
      'LOG_MAX_LINES_PER_SECOND: must be a whole number from 1 to 1000000 (got "0")',
    );
    expect(() => loadConfig({ BODY_TIMEOUT_MS: '10s' })).toThrow(/^BODY_TIMEOUT_MS: must be a whole number/);
  });

  it('names a bad MAX_PENDING_BYTES and what it got; an empty *_FILE variable means unset', () => {
    expect(() => loadConfig({ MAX_PENDING_BYTES: '12' })).toThrow(
      'MAX_PENDING_BYTES: must be a whole number from 1024 to 1073741824 (got "12")',
    );
    expect(loadConfig({ AUTH_TOKEN_FILE: '' }).authTokenFile).toBeUndefined();
  });

  it("reads the pipeline's settings from the core's table, with the core's defaults", () => {
    expect(loadConfig({})).toMatchObject({
      policy: undefined,
      cluster: undefined,
      redact: true,
      redactExecCommands: false,
      maxEventBytes: DEFAULT_MAX_EVENT_BYTES,
      dedupeCacheSize: DEFAULT_DEDUPE_CACHE_SIZE,
    });
    expect(
      loadConfig({
        AUDIT_POLICY_FILE: 'policy.yaml',
        CLUSTER_NAME: 'prod-eu',
        REDACT: 'OFF',
        REDACT_EXEC_COMMANDS: 'yes',
        MAX_EVENT_BYTES: '0',
        DEDUPE_CACHE_SIZE: '0',
      }),
    ).toMatchObject({
      policy: 'policy.yaml',
      cluster: 'prod-eu',
      redact: false,
      redactExecCommands: true,
      maxEventBytes: 0,
      dedupeCacheSize: 0,
    });
  });

  it('names every bad variable at once, and never echoes a long cluster name', () => {
    expect(() => loadConfig({ PORT: 'eighty', REDACT: 'maybe', CLUSTER_NAME: 'x'.repeat(254) })).toThrow(
      new ConfigError(
        'PORT: must be a whole number from 0 to 65535 (got "eighty"); ' +
          'CLUSTER_NAME: must be at most 253 characters; ' +
          'REDACT: must be one of on, true, 1, yes, off, false, 0, no (got "maybe")',
      ),
    );
    expect(() => loadConfig({ CLUSTER_NAME: 'a\nb' })).toThrow('CLUSTER_NAME: must not contain control characters');
    expect(() => loadConfig({ LOG_LEVEL: 'loud' })).toThrow(
      'LOG_LEVEL: must be one of debug, info, warn, error, silent (got "loud")',
    );
  });
});

/**
 * @module
 * The receiver's configuration from environment variables, validated once at start-up (the README's configuration table).
 * A bad value stops the receiver with a message naming the variable and what is wrong.
 */
import { MIN_MAX_EVENT_BYTES } from '@kube-audit/core';
import { z } from 'zod';
import { LOG_LEVELS } from './logger';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const unset = (value: unknown) => (value === '' ? undefined : value);
const integer = (min: number, max: number) =>
  z.preprocess(
    unset,
    z
      .string()
      .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
      .transform(Number)
      .pipe(
        z
          .number()
          .min(min, `must be a whole number from ${min} to ${max}`)
          .max(max, `must be a whole number from ${min} to ${max}`),
      )
      .optional(),
  );
const flag = (truthy: string[], falsy: string[]) =>
  z.preprocess(
    (value) => (typeof value === 'string' ? unset(value.trim().toLowerCase()) : value),
    z
      .enum([...truthy, ...falsy] as [string, ...string[]], {
        message: `must be one of ${[...truthy, ...falsy].join(', ')}`,
      })
      .transform((value) => truthy.includes(value))
      .optional(),
  );
const path = z.preprocess(unset, z.string().optional());
const MAX_PORT = 65_535;

const Env = z.object({
  PORT: integer(0, MAX_PORT),
  HTTP_ENABLED: flag(['true', '1', 'yes', 'on'], ['false', '0', 'no', 'off']),
  TLS_PORT: integer(0, MAX_PORT),
  TLS_CERT_FILE: path,
  TLS_KEY_FILE: path,
  TLS_CLIENT_CA_FILE: path,
  AUTH_TOKEN_FILE: path,
  AUDIT_POLICY_FILE: path,
  REDACT: flag(['on', 'true', '1', 'yes'], ['off', 'false', '0', 'no']),
  REDACT_EXEC_COMMANDS: flag(['true', '1', 'yes', 'on'], ['false', '0', 'no', 'off']),
  DEDUPE_CACHE_SIZE: integer(0, 10_000_000),
  CLUSTER_NAME: z.preprocess(
    unset,
    z
      .string()
      .max(253, 'must be at most 253 characters')
      .refine((name) => ![...name].some((ch) => ch < ' '), 'must not contain control characters')
      .optional(),
  ),
  MAX_BODY_BYTES: integer(1024, 1024 ** 3),
  // 0 (no cap), or a cap every event can be cut down to.
  MAX_EVENT_BYTES: z.preprocess(
    unset,
    z
      .string()
      .regex(/^\d+$/, `must be 0 or a whole number from ${MIN_MAX_EVENT_BYTES} to ${1024 ** 3}`)
      .transform(Number)
      .pipe(
        z
          .number()
          .max(1024 ** 3, `must be 0 or a whole number from ${MIN_MAX_EVENT_BYTES} to ${1024 ** 3}`)
          .refine(
            (n) => n === 0 || n >= MIN_MAX_EVENT_BYTES,
            `must be 0 or a whole number from ${MIN_MAX_EVENT_BYTES} to ${1024 ** 3}`,
          ),
      )
      .optional(),
  ),
  MAX_PENDING_BYTES: integer(1024, 1024 ** 3),
  MAX_INFLIGHT_BYTES: integer(1024, 4 * 1024 ** 3),
  SHUTDOWN_TIMEOUT_MS: integer(0, 3_600_000),
  LOG_LEVEL: z.preprocess(
    (value) => (typeof value === 'string' ? unset(value.trim().toLowerCase()) : value),
    z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }).optional(),
  ),
});

export interface Config {
  port: number;
  httpEnabled: boolean;
  tlsPort: number;
  tlsCertFile: string;
  tlsKeyFile: string;
  tlsClientCaFile: string | undefined;
  authTokenFile: string | undefined;
  auditPolicyFile: string | undefined;
  redact: boolean;
  redactExecCommands: boolean;
  dedupeCacheSize: number;
  clusterName: string | undefined;
  maxBodyBytes: number;
  maxEventBytes: number;
  maxPendingBytes: number;
  maxInflightBytes: number;
  shutdownTimeoutMs: number;
  logLevel: (typeof LOG_LEVELS)[number];
}

/**
 * @throws {ConfigError} naming every bad variable, e.g. `PORT: must be a whole number from 0 to 65535 (got "abc")`.
 * @example
 * const config = loadConfig(process.env);
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      const shown = name.endsWith('_FILE') || env[name] === undefined ? '' : ` (got ${JSON.stringify(env[name])})`;
      return `${name}: ${issue.message}${shown}`;
    });
    throw new ConfigError(lines.join('; '));
  }
  const e = parsed.data;
  const port = e.PORT ?? 3000;
  const tlsPort = e.TLS_PORT ?? 4443;
  if ((e.HTTP_ENABLED ?? true) && port !== 0 && port === tlsPort)
    throw new ConfigError(`TLS_PORT: must differ from PORT (both ${port})`);
  const maxBodyBytes = e.MAX_BODY_BYTES ?? 33_554_432;
  return {
    port,
    httpEnabled: e.HTTP_ENABLED ?? true,
    tlsPort,
    tlsCertFile: e.TLS_CERT_FILE ?? '/certificates/tls.crt',
    tlsKeyFile: e.TLS_KEY_FILE ?? '/certificates/tls.key',
    tlsClientCaFile: e.TLS_CLIENT_CA_FILE,
    authTokenFile: e.AUTH_TOKEN_FILE,
    auditPolicyFile: e.AUDIT_POLICY_FILE,
    redact: e.REDACT ?? true,
    redactExecCommands: e.REDACT_EXEC_COMMANDS ?? false,
    dedupeCacheSize: e.DEDUPE_CACHE_SIZE ?? 10_000,
    clusterName: e.CLUSTER_NAME,
    maxBodyBytes,
    maxEventBytes: e.MAX_EVENT_BYTES ?? 262_144,
    maxPendingBytes: e.MAX_PENDING_BYTES ?? 67_108_864,
    maxInflightBytes: e.MAX_INFLIGHT_BYTES ?? 2 * maxBodyBytes,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS ?? 25_000,
    logLevel: e.LOG_LEVEL ?? 'info',
  };
}

/**
 * @module
 * The receiver's own settings (ports, TLS, token, limits, logging), described the same way as
 * the pipeline's (`PIPELINE_SETTINGS` in @kube-audit/core): one entry each, from which
 * `loadConfig` reads the environment and a test checks the README and the Deployment. Runtime-free,
 * so that `app.ts` can take its defaults from here.
 *
 * How to add a setting: one entry here (or in `PIPELINE_SETTINGS` when the CLI shares it) with
 * its key, variable, parser, default (as text) and docs line; the key appears in `Config`
 * on its own. Then the README row and the Deployment's env line the tests ask for.
 */
import { PIPELINE_SETTINGS, type Setting, type SettingValues, settingParsers } from '@kube-audit/core';
import { LOG_LEVELS } from './logger';

const { wholeNumber, onOff, oneOf, text } = settingParsers;
const MAX_PORT = 65_535;

export const DEFAULT_MAX_BODY_BYTES = 33_554_432;
export const DEFAULT_MAX_PENDING_BYTES = 67_108_864;
export const DEFAULT_BODY_IDLE_TIMEOUT_MS = 10_000;
/** The API server's own timeout of a webhook request. */
export const DEFAULT_BODY_TIMEOUT_MS = 30_000;

/** Settings only the receiver has. */
const RECEIVER_SETTINGS = [
  { key: 'port', env: 'PORT', parse: wholeNumber(0, MAX_PORT), default: '3000', doc: 'HTTP port' },
  {
    key: 'httpEnabled',
    env: 'HTTP_ENABLED',
    parse: onOff(['true', '1', 'yes', 'on'], ['false', '0', 'no', 'off']),
    default: 'true',
    doc: '`false` serves HTTPS only (exit 2 without a certificate)',
  },
  { key: 'tlsPort', env: 'TLS_PORT', parse: wholeNumber(0, MAX_PORT), default: '4443', doc: 'HTTPS port' },
  {
    key: 'metricsPort',
    env: 'METRICS_PORT',
    parse: wholeNumber(0, MAX_PORT),
    // Unset by default, so that a receiver outside the manifests opens no second port; the
    // Deployment sets it, so that scrapers are let in to this port only (deploy/monitoring).
    deployed: '9090',
    doc: '`GET /metrics` on this port only, plain HTTP without the token (then not on `PORT`/`TLS_PORT`)',
  },
  {
    key: 'tlsCertFile',
    env: 'TLS_CERT_FILE',
    parse: text,
    default: '/certificates/tls.crt',
    doc: 'HTTPS certificate; HTTPS is served when it and the key exist',
  },
  { key: 'tlsKeyFile', env: 'TLS_KEY_FILE', parse: text, default: '/certificates/tls.key', doc: 'HTTPS key' },
  {
    key: 'tlsClientCaFile',
    env: 'TLS_CLIENT_CA_FILE',
    parse: text,
    doc: 'HTTPS requires a client certificate signed by this CA',
  },
  {
    key: 'authTokenFile',
    env: 'AUTH_TOKEN_FILE',
    parse: text,
    doc: 'requests need `Authorization: Bearer <token>`',
  },
  {
    key: 'maxBodyBytes',
    env: 'MAX_BODY_BYTES',
    parse: wholeNumber(1024, 1024 ** 3),
    default: String(DEFAULT_MAX_BODY_BYTES),
    doc: '`413` past it (decompressed bytes)',
  },
  {
    key: 'maxPendingBytes',
    env: 'MAX_PENDING_BYTES',
    parse: wholeNumber(1024, 1024 ** 3),
    default: String(DEFAULT_MAX_PENDING_BYTES),
    doc: 'bytes waiting for stdout before receive routes answer `503`',
  },
  {
    key: 'maxInflightBytes',
    env: 'MAX_INFLIGHT_BYTES',
    parse: wholeNumber(1024, 4 * 1024 ** 3),
    // Follows MAX_BODY_BYTES unless set (loadConfig): what a 512Mi pod holds (docs/deploy.md).
    defaultDoc: '`MAX_BODY_BYTES`',
    doc: 'body bytes of batches being taken at once; past it `503`, unless alone',
  },
  {
    key: 'bodyIdleTimeoutMs',
    env: 'BODY_IDLE_TIMEOUT_MS',
    parse: wholeNumber(100, 600_000),
    default: String(DEFAULT_BODY_IDLE_TIMEOUT_MS),
    doc: '`408` and the connection closed when a request body sends no byte for this long',
  },
  {
    key: 'bodyTimeoutMs',
    env: 'BODY_TIMEOUT_MS',
    parse: wholeNumber(100, 3_600_000),
    default: String(DEFAULT_BODY_TIMEOUT_MS),
    doc: '`408` when a request body has not arrived whole this long after it began',
  },
  {
    key: 'shutdownTimeoutMs',
    env: 'SHUTDOWN_TIMEOUT_MS',
    parse: wholeNumber(0, 3_600_000),
    default: '25000',
    doc: 'drain time on SIGTERM/SIGINT',
  },
  {
    key: 'logLevel',
    env: 'LOG_LEVEL',
    parse: oneOf(LOG_LEVELS),
    default: 'info',
    doc: '`debug`, `info`, `warn`, `error` or `silent`',
  },
  {
    key: 'logMaxLinesPerSecond',
    env: 'LOG_MAX_LINES_PER_SECOND',
    parse: wholeNumber(1, 1_000_000),
    default: '100',
    doc: 'stderr lines a second at most; the rest are counted in one line',
  },
] as const satisfies readonly Setting[];

/** Every variable the receiver reads: its own settings and the pipeline's. */
export const ENVIRONMENT = [...RECEIVER_SETTINGS, ...PIPELINE_SETTINGS] as const;

/** The configuration: each setting's value by key (a file setting's value is its path). */
export type Config = SettingValues<typeof ENVIRONMENT>;

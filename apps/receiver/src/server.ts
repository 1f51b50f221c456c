/**
 * @module
 * Start-up and shutdown shared by the runtime entries: configuration from the environment, the
 * pipeline, the sink, the listeners (HTTP, and HTTPS while a certificate is present), the token
 * and certificate files (re-read when they change), and the drain on SIGTERM (readiness fails,
 * listeners stop taking connections, requests in flight finish and are answered, stdout is
 * flushed, exit 0).
 */
import { readFileSync } from 'node:fs';
import { createPipeline, PIPELINE_SETTINGS, type PipelineOptions, SettingError } from '@kube-audit/core';
import type { Hono } from 'hono';
import { type BodyReader, createApp, createMetricsApp } from './app';
import { type Config, ConfigError, loadConfig } from './config';
import { createLogger, type Logger } from './logger';
import type { PrometheusMetricsOptions, ReceiverMetrics } from './prometheus';
import type { Sink } from './sink';
import { readTlsFiles, sameMaterial, type TlsFiles, TlsFilesError, type TlsMaterial, type TlsState } from './tls-files';
import { createTokenSource, TokenFileError, type TokenSource } from './token-file';
import { watchFiles } from './watch-files';

export interface Listener {
  readonly port: number;
  /** Stop taking connections and resolve once the open ones have finished. */
  close(): Promise<void>;
  /** HTTPS listeners: new connections get this certificate (and client CA); open ones keep theirs. */
  setTls?(tls: TlsMaterial): Promise<void>;
}

export interface Runtime {
  readonly name: string;
  createSink(onFatal: (error: Error) => void): Sink;
  /** With `tls.ca`, clients must present a certificate signed by it, checked in the handshake. */
  listen(app: Hono, options: { port: number; tls?: TlsMaterial }): Promise<Listener>;
  createMetrics?(sink: Sink, options: PrometheusMetricsOptions): ReceiverMetrics;
  /** A reader of request bodies cheaper than the web one (`readBody`) on this runtime. */
  readBody?: BodyReader;
}

export interface Receiver {
  readonly config: Config;
  readonly listeners: readonly Listener[];
  shutdown(exitCode: number, reason: string): Promise<void>;
}

/** Exit code for configuration errors, as for usage errors of command-line tools. */
export const EXIT_CONFIG = 2;

/** How often certificate files are polled, besides watching their directory. */
const TLS_POLL_MS = 5000;

/** Stops start-up; lines the logger still holds (policy warnings) are written first. */
function fail(message: string, logger?: Logger, exitCode = EXIT_CONFIG): never {
  logger?.flush();
  process.stderr.write(`${JSON.stringify({ level: 'error', time: new Date().toISOString(), msg: message })}\n`);
  process.exit(exitCode);
}

/**
 * The pipeline's options from the configuration: each pipeline setting's value, and the content
 * of each file setting (the policy) read and parsed here, where a bad file stops start-up.
 */
function pipelineOptionsOf(config: Config, logger: Logger): PipelineOptions {
  const options: Record<string, unknown> = {};
  for (const setting of PIPELINE_SETTINGS) {
    const value = config[setting.key];
    if (!('file' in setting) || value === undefined) {
      options[setting.key] = value;
      continue;
    }
    const file = value as string;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      fail(`${setting.env}: cannot read ${file}: ${(error as { code?: string }).code ?? String(error)}`);
    }
    try {
      options[setting.key] = setting.parse(text, {
        source: file,
        warn: (warning) => logger.warn(`${setting.env}: warning`, { file, warning }),
      });
    } catch (error) {
      if (error instanceof SettingError) fail(`${setting.env}: ${error.message}`);
      throw error;
    }
  }
  return options as PipelineOptions;
}

export async function startReceiver(
  runtime: Runtime,
  env: Record<string, string | undefined> = process.env,
): Promise<Receiver> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) fail(`invalid configuration: ${error.message}`);
    throw error;
  }
  const logger = createLogger((line) => process.stderr.write(line), config.logLevel, {
    maxLinesPerSecond: config.logMaxLinesPerSecond,
  });
  const pipeline = createPipeline(pipelineOptionsOf(config, logger));

  const tlsFiles: TlsFiles = {
    certFile: config.tlsCertFile,
    keyFile: config.tlsKeyFile,
    clientCaFile: config.tlsClientCaFile,
  };
  let tls: TlsState = { present: false };
  try {
    tls = readTlsFiles(tlsFiles);
  } catch (error) {
    if (error instanceof TlsFilesError) fail(error.message, logger);
    throw error;
  }
  if (!config.httpEnabled && !tls.present) {
    fail(
      `HTTP_ENABLED=false, and there is no certificate and key at TLS_CERT_FILE=${config.tlsCertFile}, ` +
        `TLS_KEY_FILE=${config.tlsKeyFile}: nothing would listen`,
      logger,
    );
  }

  let draining = false;
  let stopping: Promise<void> | undefined;
  const listeners: Listener[] = [];
  let metricsListener: Listener | undefined;
  const closeWatchers: (() => void)[] = [];
  const shutdown = (exitCode: number, reason: string): Promise<void> => {
    stopping ??= (async () => {
      draining = true;
      logger.info('shutting down', { reason, timeoutMs: config.shutdownTimeoutMs });
      const timer = setTimeout(() => {
        logger.error('shutdown timed out; exiting with requests unfinished', { timeoutMs: config.shutdownTimeoutMs });
        logger.flush();
        process.exit(1);
      }, config.shutdownTimeoutMs);
      timer.unref();
      for (const close of closeWatchers) close();
      await Promise.all([...listeners, ...(metricsListener ? [metricsListener] : [])].map((l) => l.close()));
      await sink.flush();
      logger.info('stopped', { exitCode });
      logger.flush();
      process.exit(exitCode);
    })();
    return stopping;
  };

  const sink = runtime.createSink((error) => {
    logger.error('stdout failed; no more events can be written', { error });
    void shutdown(1, 'stdout failed');
  });
  const metrics = runtime.createMetrics?.(sink, { maxPendingBytes: config.maxPendingBytes });

  let token: TokenSource | undefined;
  if (config.authTokenFile) {
    try {
      token = createTokenSource(config.authTokenFile, {
        logger,
        onReload: (ok) => metrics?.fileReloaded('token', ok),
      });
    } catch (error) {
      if (error instanceof TokenFileError) fail(`AUTH_TOKEN_FILE: ${error.message}`, logger);
      throw error;
    }
  }

  const app = createApp({
    pipeline,
    sink,
    logger,
    metrics,
    maxBodyBytes: config.maxBodyBytes,
    maxPendingBytes: config.maxPendingBytes,
    maxInflightBytes: config.maxInflightBytes,
    bodyIdleTimeoutMs: config.bodyIdleTimeoutMs,
    bodyTimeoutMs: config.bodyTimeoutMs,
    draining: () => draining,
    authToken: token ? () => token.current() : undefined,
    serveMetrics: config.metricsPort === undefined,
    readBody: runtime.readBody,
  });

  let http: Listener | undefined;
  let https: Listener | undefined;
  let served: TlsMaterial | undefined;
  /** Starts HTTPS with the certificate, or hands a new one to the running listener. */
  const serveTls = async (state: Extract<TlsState, { present: true }>) => {
    if (https?.setTls) await https.setTls(state.material);
    else {
      https = await runtime.listen(app, { port: config.tlsPort, tls: state.material });
      listeners.push(https);
    }
    served = state.material;
    metrics?.certificateLoaded(state.certificate.validTo);
    logger.info('tls certificate loaded', {
      port: https.port,
      subject: state.certificate.subject,
      subjectAltName: state.certificate.subjectAltName,
      serialNumber: state.certificate.serialNumber,
      fingerprint256: state.certificate.fingerprint256,
      validTo: state.certificate.validTo.toISOString(),
      clientCertificates: config.tlsClientCaFile ? 'required' : 'not requested',
    });
  };

  // A port that is taken (or not ours to bind) stops start-up with one clear line, exit code 1.
  const listenFailed = (port: number, error: unknown): never =>
    fail(`cannot listen on port ${port}: ${(error as Error).message}`, logger, 1);
  if (config.httpEnabled) {
    http = await runtime.listen(app, { port: config.port }).catch((error) => listenFailed(config.port, error));
    listeners.push(http);
  }
  // Scrapers get a port of their own, which takes no events (deploy/monitoring opens only it).
  if (config.metricsPort !== undefined) {
    const port = config.metricsPort;
    metricsListener = await runtime
      .listen(createMetricsApp({ metrics, logger }), { port })
      .catch((error) => listenFailed(port, error));
  }
  if (tls.present) await serveTls(tls).catch((error) => listenFailed(config.tlsPort, error));
  else
    logger.info('no certificate: HTTPS is off until one appears', {
      certFile: config.tlsCertFile,
      keyFile: config.tlsKeyFile,
    });
  if (config.tlsClientCaFile && config.httpEnabled) {
    logger.warn('TLS_CLIENT_CA_FILE applies to HTTPS only: plain HTTP takes requests without a client certificate', {
      port: http?.port,
      hint: 'HTTP_ENABLED=false serves HTTPS only',
    });
  }

  // Certificate rotation: a changed pair is checked, then used for new connections; a bad one is
  // reported and the one in service stays. The files appearing later starts HTTPS.
  let reloading = Promise.resolve();
  const reloadTls = () => {
    reloading = reloading.then(async function reloadTlsFiles() {
      if (draining) return;
      let state: TlsState;
      try {
        state = readTlsFiles(tlsFiles);
      } catch (error) {
        metrics?.fileReloaded('tls', false);
        logger.error(served ? 'tls files rejected; keeping the certificate in service' : 'tls files rejected', {
          error,
        });
        return;
      }
      if (!state.present) {
        if (served)
          logger.warn('tls files are gone; keeping the certificate in service', { certFile: config.tlsCertFile });
        return;
      }
      if (sameMaterial(state.material, served)) return;
      try {
        await serveTls(state);
        metrics?.fileReloaded('tls', true);
      } catch (error) {
        metrics?.fileReloaded('tls', false);
        logger.error('tls certificate could not be put in service', { error });
      }
    });
  };
  const files = [tlsFiles.certFile, tlsFiles.keyFile, ...(tlsFiles.clientCaFile ? [tlsFiles.clientCaFile] : [])];
  const watcher = watchFiles(files, reloadTls, { intervalMs: TLS_POLL_MS });
  closeWatchers.push(() => watcher.close());

  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void shutdown(0, signal));
  logger.info('listening', {
    runtime: runtime.name,
    // HTTP first, then HTTPS: tests and tools read the ports in this order.
    ports: listeners.map((listener) => listener.port),
    metrics: metricsListener?.port,
    http: http?.port,
    https: https?.port,
    auth: token ? 'bearer token' : undefined,
    policy: config.policy,
    redact: config.redact,
    cluster: config.cluster,
  });
  return { config, listeners, shutdown };
}

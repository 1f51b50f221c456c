/**
 * @module
 * Start-up and shutdown shared by the runtime entries: configuration from the environment, the
 * pipeline, the sink, the listeners, and the drain on SIGTERM (readiness fails, listeners stop
 * taking connections, requests in flight finish and are answered, stdout is flushed, exit 0).
 */
import { readFileSync } from 'node:fs';
import { createPipeline, PolicyError, parsePolicy } from '@kube-audit/core';
import type { Hono } from 'hono';
import { createApp } from './app';
import { type Config, ConfigError, loadConfig } from './config';
import { createLogger, type Logger } from './logger';
import type { Metrics } from './metrics';
import type { Sink } from './sink';

export interface Listener {
  readonly port: number;
  /** Stop taking connections and resolve once the open ones have finished. */
  close(): Promise<void>;
}

export interface Runtime {
  readonly name: string;
  createSink(onFatal: (error: Error) => void): Sink;
  listen(app: Hono, options: { port: number; tls?: { cert: string; key: string; ca?: string } }): Promise<Listener>;
  createMetrics?(sink: Sink): Metrics;
}

export interface Receiver {
  readonly config: Config;
  readonly listeners: readonly Listener[];
  shutdown(exitCode: number, reason: string): Promise<void>;
}

/** Exit code for configuration errors, as for usage errors of command-line tools. */
export const EXIT_CONFIG = 2;

function fail(message: string): never {
  process.stderr.write(`${JSON.stringify({ level: 'error', time: new Date().toISOString(), msg: message })}\n`);
  process.exit(EXIT_CONFIG);
}

function loadPolicy(file: string, logger: Logger) {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    fail(`AUDIT_POLICY_FILE: cannot read ${file}: ${(error as { code?: string }).code ?? String(error)}`);
  }
  try {
    const { policy, warnings } = parsePolicy(text, { source: file });
    for (const warning of warnings) logger.warn('audit policy', { warning });
    return policy;
  } catch (error) {
    if (error instanceof PolicyError) fail(`AUDIT_POLICY_FILE: ${error.message}`);
    throw error;
  }
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
  const logger = createLogger((line) => process.stderr.write(line), config.logLevel);
  const policy = config.auditPolicyFile ? loadPolicy(config.auditPolicyFile, logger) : undefined;
  const pipeline = createPipeline({
    policy,
    redact: config.redact,
    redactExecCommands: config.redactExecCommands,
    dedupeCacheSize: config.dedupeCacheSize,
    cluster: config.clusterName,
    maxEventBytes: config.maxEventBytes,
  });

  let draining = false;
  let stopping: Promise<void> | undefined;
  const listeners: Listener[] = [];
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
      await Promise.all(listeners.map((listener) => listener.close()));
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
  const metrics = runtime.createMetrics?.(sink);
  const app = createApp({
    pipeline,
    sink,
    logger,
    metrics,
    maxBodyBytes: config.maxBodyBytes,
    maxPendingBytes: config.maxPendingBytes,
    draining: () => draining,
  });

  if (config.httpEnabled) listeners.push(await runtime.listen(app, { port: config.port }));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void shutdown(0, signal));
  logger.info('listening', {
    runtime: runtime.name,
    ports: listeners.map((listener) => listener.port),
    policy: config.auditPolicyFile,
    redact: config.redact,
    cluster: config.clusterName,
  });
  return { config, listeners, shutdown };
}

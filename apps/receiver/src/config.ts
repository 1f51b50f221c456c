/**
 * @module
 * The receiver's configuration from environment variables, validated once at start-up. The
 * variables are the settings of ./settings.ts and the core's `PIPELINE_SETTINGS` (the README's
 * configuration table). A bad value stops the receiver with a message naming the variable and
 * what is wrong.
 */
import { SettingError } from '@kube-audit/core';
import { type Config, ENVIRONMENT } from './settings';

export type { Config } from './settings';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const noWarnings = { warn: () => {} };

/**
 * Each variable parsed by its setting; empty means unset. A file setting's value is its path,
 * read later (start-up reads the policy file).
 *
 * @throws {ConfigError} naming every bad variable, e.g. `PORT: must be a whole number from 0 to 65535 (got "abc")`.
 * @example
 * const config = loadConfig(process.env);
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const setting of ENVIRONMENT) {
    const given = env[setting.env];
    const text = given === undefined || given === '' ? ('default' in setting ? setting.default : undefined) : given;
    if (text === undefined || ('file' in setting && setting.file)) {
      values[setting.key] = text;
      continue;
    }
    try {
      values[setting.key] = setting.parse(text, noWarnings);
    } catch (error) {
      if (!(error instanceof SettingError)) throw error;
      problems.push(`${setting.env}: ${error.message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems.join('; '));
  const config = values as Config;
  config.maxInflightBytes ??= config.maxBodyBytes;
  if (config.httpEnabled && config.port !== 0 && config.port === config.tlsPort)
    throw new ConfigError(`TLS_PORT: must differ from PORT (both ${config.port})`);
  const metricsPort = config.metricsPort;
  if (metricsPort !== undefined && metricsPort !== 0) {
    const clash = [
      ['PORT', config.httpEnabled ? config.port : undefined],
      ['TLS_PORT', config.tlsPort],
    ].find(([, port]) => port === metricsPort);
    if (clash) throw new ConfigError(`METRICS_PORT: must differ from ${clash[0]} (both ${metricsPort})`);
  }
  return config;
}

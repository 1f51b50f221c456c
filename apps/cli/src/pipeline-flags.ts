/**
 * @module
 * The pipeline's flags, mirroring the receiver's environment: the same policy, redaction,
 * dedupe, cluster and size cap, so that a log run through `kube-audit process` comes out as the
 * receiver would have written it.
 */
import {
  DEFAULT_DEDUPE_CACHE_SIZE,
  DEFAULT_MAX_EVENT_BYTES,
  MIN_MAX_EVENT_BYTES,
  type PipelineOptions,
  PolicyError,
  parsePolicy,
} from '@kube-audit/core';
import { readFlagFile, wholeNumber } from './args';
import { UsageError } from './usage-error';

/** The flags, for `parseFlags`. */
export const pipelineFlags = {
  policy: { type: 'string' },
  cluster: { type: 'string' },
  'no-redact': { type: 'boolean' },
  'redact-exec-commands': { type: 'boolean' },
  'max-event-bytes': { type: 'string' },
  'no-dedupe': { type: 'boolean' },
  'dedupe-cache-size': { type: 'string' },
} as const;

/** Their lines in a command's `--help`. */
export const pipelineHelp = `Pipeline (the receiver's settings):
  --policy FILE              an audit.k8s.io/v1 Policy (YAML or JSON) applied to the events
  --cluster NAME             add the annotation kube-audit/cluster: NAME
  --no-redact                keep Secret values and tokens (redacted by default)
  --redact-exec-commands     also mask command= values of exec/attach request URIs
  --max-event-bytes N        line-size cap; longer events lose their bodies, or are cut down (default ${DEFAULT_MAX_EVENT_BYTES}, 0 = none, else ≥ ${MIN_MAX_EVENT_BYTES})
  --dedupe-cache-size N      recent events remembered to drop byte-identical repeats (default ${DEFAULT_DEDUPE_CACHE_SIZE})
  --no-dedupe                keep duplicates (same as --dedupe-cache-size 0)`;

interface PipelineFlagValues {
  policy?: string | undefined;
  cluster?: string | undefined;
  'no-redact'?: boolean | undefined;
  'redact-exec-commands'?: boolean | undefined;
  'max-event-bytes'?: string | undefined;
  'no-dedupe'?: boolean | undefined;
  'dedupe-cache-size'?: string | undefined;
}

/**
 * Pipeline options from the flags; the policy file is read and validated here.
 *
 * @throws {UsageError} naming the flag, or the policy file and its bad field.
 */
export function pipelineOptionsOf(values: PipelineFlagValues, warn: (message: string) => void): PipelineOptions {
  const options: PipelineOptions = {
    redact: !values['no-redact'],
    redactExecCommands: !!values['redact-exec-commands'],
    maxEventBytes: maxEventBytes(values['max-event-bytes']),
    dedupeCacheSize: wholeNumber(
      'dedupe-cache-size',
      values['dedupe-cache-size'],
      DEFAULT_DEDUPE_CACHE_SIZE,
      0,
      10_000_000,
    ),
  };
  if (values['no-dedupe']) {
    if (values['dedupe-cache-size'] !== undefined)
      throw new UsageError('--no-dedupe and --dedupe-cache-size exclude each other');
    options.dedupeCacheSize = 0;
  }
  if (values.cluster !== undefined) options.cluster = clusterName(values.cluster);
  const policyText = readFlagFile('policy', values.policy);
  if (policyText !== undefined) {
    try {
      const { policy, warnings } = parsePolicy(policyText, { source: values.policy });
      for (const warning of warnings) warn(`--policy: warning: ${warning}`);
      options.policy = policy;
    } catch (error) {
      if (error instanceof PolicyError) throw new UsageError(`--policy: ${error.message.replaceAll('\n', '\n  ')}`);
      throw error;
    }
  }
  return options;
}

/** The receiver's CLUSTER_NAME rules: it ends up in an annotation value and in log lines. */
function clusterName(name: string): string {
  if (name === '') throw new UsageError('--cluster: missing name');
  if (name.length > 253) throw new UsageError('--cluster: must be at most 253 characters');
  if ([...name].some((ch) => ch < ' ')) throw new UsageError('--cluster: must not contain control characters');
  return name;
}

/** 0 (no cap), or a cap every event can be cut down to. */
function maxEventBytes(text: string | undefined): number {
  const value = wholeNumber('max-event-bytes', text, DEFAULT_MAX_EVENT_BYTES, 0, 1024 ** 3);
  if (value !== 0 && value < MIN_MAX_EVENT_BYTES)
    throw new UsageError(
      `--max-event-bytes: must be 0 or a whole number from ${MIN_MAX_EVENT_BYTES} to ${1024 ** 3} (got ${JSON.stringify(text)})`,
    );
  return value;
}

/**
 * @module
 * The pipeline's settings, each described once: its key in `PipelineOptions`, the receiver's
 * environment variable, the CLI's flags, the parser, the default, and the help and docs lines.
 * The receiver's environment (apps/receiver/src/config.ts), the CLI's flags, `--help` and
 * mapping (apps/cli/src/pipeline-flags.ts) are derived from this table, and a test checks the
 * README's configuration table, the CLI README's flag table and the Deployment's env against it.
 *
 * How to add a setting: add its option to `PipelineOptions` and its logic to the pipeline, then
 * one entry to {@link PIPELINE_SETTINGS} (or, for a receiver-only setting such as a port, to the
 * receiver's table in apps/receiver/src/settings.ts). `parse` turns the text of the variable or
 * flag into the value and throws a `SettingError` whose message says what is wrong (the front
 * ends prefix the variable or flag). `default` is the text form, parsed like any other value.
 * Then add the row the tests ask for to the README (and the CLI README when it has a flag) and
 * the variable to deploy/20-deployment.yaml (its default, or a commented opt-in line).
 */
import { DEFAULT_DEDUPE_CACHE_SIZE, DEFAULT_MAX_EVENT_BYTES, type PipelineOptions } from './pipeline';
import { PolicyError, parsePolicy } from './policy';
import { MIN_MAX_EVENT_BYTES } from './truncate';

/** A setting's value cannot be used; the message says why, without naming the setting. */
export class SettingError extends Error {
  override readonly name = 'SettingError';
}

/** What `Setting.parse` may need besides the text: where it came from, and a place for warnings. */
export interface SettingContext {
  /** The file the text was read from, for settings of a file. */
  readonly source?: string;
  readonly warn: (message: string) => void;
}

/** A command-line flag of a setting: one that takes a value (`arg`), or a switch that `sets` one. */
export interface SettingFlag {
  /** The flag without its dashes, e.g. `max-event-bytes`. */
  readonly name: string;
  /** The value's placeholder in `--help` (`N`, `FILE`); absent for a switch. */
  readonly arg?: string;
  /** What a switch sets the setting to. */
  readonly sets?: unknown;
  /** Its line in `--help`. */
  readonly help: string;
}

/** One setting, described once. */
export interface Setting {
  /** The key of its value: a `PipelineOptions` key, or a receiver configuration key. */
  readonly key: string;
  /** The environment variable the receiver reads it from. */
  readonly env: string;
  /** The text names a file; `parse` gets the file's content (front ends read it). */
  readonly file?: boolean;
  /**
   * The value from its text, as written in the environment or on the command line.
   * @throws {SettingError} saying what is wrong.
   */
  readonly parse: (text: string, context: SettingContext) => unknown;
  /** The default in its text form (as the Deployment spells it out); absent means unset. */
  readonly default?: string;
  /** What deploy/20-deployment.yaml sets, where that differs from the default (text form). */
  readonly deployed?: string;
  /** The docs' default column, for a default that is not a fixed text (one derived from another). */
  readonly defaultDoc?: string;
  /** The docs' meaning column: one line. */
  readonly doc: string;
  /** The CLI's flags for it, in `--help` order. */
  readonly flags?: readonly SettingFlag[];
}

/** The values of a table of settings, by key: what `parse` returns, `string` (a path) for a file. */
export type SettingValues<S extends readonly Setting[]> = {
  [E in S[number] as E['key']]: E extends { file: true }
    ? string | undefined
    : E extends { default: string }
      ? ReturnType<E['parse']>
      : ReturnType<E['parse']> | undefined;
};

const quoted = (text: string) => JSON.stringify(text);

/** Parsers for `Setting.parse`, with the messages the receiver and the CLI show. */
export const settingParsers = {
  /** A whole number in [min, max], digits only. */
  wholeNumber(min: number, max: number): (text: string) => number {
    return (text) => {
      const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
      if (!(value >= min && value <= max))
        throw new SettingError(`must be a whole number from ${min} to ${max} (got ${quoted(text)})`);
      return value;
    };
  },
  /** A switch: one of the `truthy` or `falsy` words, in any case, blanks around it ignored. */
  onOff(truthy: readonly string[], falsy: readonly string[]): (text: string) => boolean {
    return (text) => {
      const word = text.trim().toLowerCase();
      if (truthy.includes(word)) return true;
      if (falsy.includes(word)) return false;
      throw new SettingError(`must be one of ${[...truthy, ...falsy].join(', ')} (got ${quoted(text)})`);
    };
  },
  /** One of `words`, in any case, blanks around it ignored. */
  oneOf<const W extends string>(words: readonly W[]): (text: string) => W {
    return (text) => {
      const word = text.trim().toLowerCase();
      const found = words.find((w) => w === word);
      if (found === undefined) throw new SettingError(`must be one of ${words.join(', ')} (got ${quoted(text)})`);
      return found;
    };
  },
  /** Any text (a path). */
  text(text: string): string {
    return text;
  },
};

const TRUE_WORDS = ['true', '1', 'yes', 'on'];
const FALSE_WORDS = ['false', '0', 'no', 'off'];

/** A cluster name ends up in an annotation value and in log lines. @throws {SettingError} saying why not. */
export function parseClusterName(name: string): string {
  if (name === '') throw new SettingError('missing name');
  if (name.length > 253) throw new SettingError('must be at most 253 characters');
  if ([...name].some((ch) => ch < ' ')) throw new SettingError('must not contain control characters');
  return name;
}

/** A Policy file's content, read the way kube-apiserver reads `--audit-policy-file`. */
function parsePolicyFile(text: string, context: SettingContext) {
  try {
    const { policy, warnings } = parsePolicy(text, { source: context.source });
    for (const warning of warnings) context.warn(warning);
    return policy;
  } catch (error) {
    if (error instanceof PolicyError) throw new SettingError(error.message);
    throw error;
  }
}

/**
 * The settings of `createPipeline`, shared by the receiver (environment) and the CLI (flags).
 *
 * @example
 * for (const setting of PIPELINE_SETTINGS) console.log(setting.env, setting.default ?? 'unset', setting.doc);
 */
export const PIPELINE_SETTINGS = [
  {
    key: 'policy',
    env: 'AUDIT_POLICY_FILE',
    file: true,
    parse: parsePolicyFile,
    doc: 'a receiver-side audit Policy (YAML or JSON)',
    flags: [{ name: 'policy', arg: 'FILE', help: 'an audit.k8s.io/v1 Policy (YAML or JSON) applied to the events' }],
  },
  {
    key: 'cluster',
    env: 'CLUSTER_NAME',
    parse: parseClusterName,
    doc: 'adds the annotation `kube-audit/cluster`',
    flags: [{ name: 'cluster', arg: 'NAME', help: 'add the annotation kube-audit/cluster: NAME' }],
  },
  {
    key: 'redact',
    env: 'REDACT',
    parse: settingParsers.onOff(['on', 'true', '1', 'yes'], ['off', 'false', '0', 'no']),
    default: 'on',
    doc: 'redact Secret values and tokens',
    flags: [{ name: 'no-redact', sets: false, help: 'keep Secret values and tokens (redacted by default)' }],
  },
  {
    key: 'redactExecCommands',
    env: 'REDACT_EXEC_COMMANDS',
    parse: settingParsers.onOff(TRUE_WORDS, FALSE_WORDS),
    default: 'false',
    doc: 'also mask `command=` values of exec/attach request URIs',
    flags: [
      { name: 'redact-exec-commands', sets: true, help: 'also mask command= values of exec/attach request URIs' },
    ],
  },
  {
    key: 'maxEventBytes',
    env: 'MAX_EVENT_BYTES',
    // 0 (no cap), or a cap every event can be cut down to.
    parse: (text: string) => {
      const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
      if (!(value === 0 || (value >= MIN_MAX_EVENT_BYTES && value <= 1024 ** 3)))
        throw new SettingError(
          `must be 0 or a whole number from ${MIN_MAX_EVENT_BYTES} to ${1024 ** 3} (got ${quoted(text)})`,
        );
      return value;
    },
    default: String(DEFAULT_MAX_EVENT_BYTES),
    doc: `line-size cap, newline included; \`0\` = none, else at least \`${MIN_MAX_EVENT_BYTES}\``,
    flags: [
      {
        name: 'max-event-bytes',
        arg: 'N',
        help: `line-size cap; longer events lose their bodies, or are cut down (default ${DEFAULT_MAX_EVENT_BYTES}, 0 = none, else ≥ ${MIN_MAX_EVENT_BYTES})`,
      },
    ],
  },
  {
    key: 'dedupeCacheSize',
    env: 'DEDUPE_CACHE_SIZE',
    parse: settingParsers.wholeNumber(0, 10_000_000),
    default: String(DEFAULT_DEDUPE_CACHE_SIZE),
    doc: 'recent events remembered (by their bytes) to drop retries; `0` = off',
    flags: [
      {
        name: 'dedupe-cache-size',
        arg: 'N',
        help: `recent events remembered to drop byte-identical repeats (default ${DEFAULT_DEDUPE_CACHE_SIZE})`,
      },
      { name: 'no-dedupe', sets: 0, help: 'keep duplicates (same as --dedupe-cache-size 0)' },
    ],
  },
] as const satisfies readonly (Setting & { key: keyof PipelineOptions })[];

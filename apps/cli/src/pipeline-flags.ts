/**
 * @module
 * The pipeline's flags, derived from the core's `PIPELINE_SETTINGS` (the same settings as the
 * receiver's environment: policy, redaction, dedupe, cluster and size cap), so that a log run
 * through `kube-audit process` comes out as the receiver would have written it. A new pipeline
 * setting with `flags` appears here, in `--help` and in the mapping without a change to this file.
 */
import { PIPELINE_SETTINGS, type PipelineOptions, type Setting, SettingError } from '@kube-audit/core';
import { readFlagFile } from './args';
import { UsageError } from './usage-error';

const settings: readonly Setting[] = PIPELINE_SETTINGS;
const allFlags = settings.flatMap((setting) => setting.flags ?? []);

/** The flags, for `parseFlags`: a switch is a boolean flag, the others take a string. */
export const pipelineFlags: Record<string, { type: 'string' | 'boolean' }> = Object.fromEntries(
  allFlags.map((flag) => [flag.name, { type: flag.arg === undefined ? 'boolean' : 'string' }]),
);

/** Their lines in a command's `--help`. */
export const pipelineHelp = [
  "Pipeline (the receiver's settings):",
  ...allFlags.map((flag) => `  ${`--${flag.name}${flag.arg ? ` ${flag.arg}` : ''}`.padEnd(26)} ${flag.help}`),
].join('\n');

/**
 * Pipeline options from the flags; a file's content (the policy) is read and validated here.
 * A setting's switch and its value flag exclude each other (`--no-dedupe`, `--dedupe-cache-size`).
 *
 * @throws {UsageError} naming the flag, or the policy file and its bad field.
 */
export function pipelineOptionsOf(
  values: Record<string, string | boolean | undefined>,
  warn: (message: string) => void,
): PipelineOptions {
  const options: Record<string, unknown> = {};
  for (const setting of settings) {
    const given = (setting.flags ?? []).filter(
      (flag) => values[flag.name] !== undefined && values[flag.name] !== false,
    );
    const switches = given.filter((flag) => flag.arg === undefined);
    if (given.length > 1)
      throw new UsageError(
        `${[...switches, ...given.filter((flag) => !switches.includes(flag))].map((flag) => `--${flag.name}`).join(' and ')} exclude each other`,
      );
    const flag = given[0];
    if (flag === undefined) continue;
    if (flag.arg === undefined) {
      options[setting.key] = flag.sets;
      continue;
    }
    const name = `--${flag.name}`;
    let text = String(values[flag.name]);
    const context = { source: text, warn: (message: string) => warn(`${name}: warning: ${message}`) };
    if (setting.file) text = readFlagFile(flag.name, text) as string;
    try {
      options[setting.key] = setting.parse(text, context);
    } catch (error) {
      if (error instanceof SettingError) throw new UsageError(`${name}: ${error.message.replaceAll('\n', '\n  ')}`);
      throw error;
    }
  }
  return options as PipelineOptions;
}

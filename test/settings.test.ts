/**
 * Each setting is described once (the core's PIPELINE_SETTINGS and the receiver's own settings);
 * the places people read them are checked against those descriptions, so a setting added to the
 * table and missing from the README, the CLI README or the Deployment fails here, and so does a
 * row or env entry left behind by a setting that is gone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ENVIRONMENT } from '../apps/receiver/src/settings';
import { PIPELINE_SETTINGS, type Setting } from '../packages/core/src/index';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const settings: readonly Setting[] = ENVIRONMENT;

/** The default as the docs show it. */
const defaultDoc = (setting: Setting) =>
  setting.defaultDoc ?? (setting.default === undefined ? 'unset' : `\`${setting.default}\``);

/** The rows of the first Markdown table after `heading`, as trimmed cells (header and rule dropped). */
function tableAfter(markdown: string, heading: string): string[][] {
  const lines = markdown.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`no heading ${heading}`);
  const first = lines.findIndex((line, i) => i > start && line.startsWith('|'));
  const rows: string[][] = [];
  for (let i = first + 2; lines[i]?.startsWith('|'); i++)
    rows.push(
      (lines[i] as string)
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
  return rows;
}

describe('the settings table', () => {
  it('names each variable, key and flag once, and each default parses', () => {
    const unique = (values: string[]) => expect(new Set(values).size).toBe(values.length);
    unique(settings.map((s) => s.env));
    unique(settings.map((s) => s.key));
    unique(settings.flatMap((s) => (s.flags ?? []).map((f) => f.name)));
    for (const setting of settings) {
      if (setting.default !== undefined && !setting.file)
        expect(() => setting.parse(setting.default as string, { warn: () => {} }), setting.env).not.toThrow();
    }
  });
});

describe('README.md, Configuration', () => {
  it('has one row per setting: variable, default and meaning', () => {
    const rows = tableAfter(read('README.md'), '## Configuration');
    const expected = settings.map((s) => [`\`${s.env}\``, defaultDoc(s), s.doc]);
    expect(rows.sort()).toEqual(expected.sort());
  });
});

describe('apps/cli/README.md, kube-audit process', () => {
  it('lists the flags of each pipeline setting with its variable and default', () => {
    const rows = tableAfter(read('apps/cli/README.md'), '## kube-audit process').filter((row) => row[1] !== '');
    const expected = (PIPELINE_SETTINGS as readonly Setting[])
      .filter((s) => s.flags !== undefined)
      .map((s) => [
        (s.flags ?? []).map((f) => `\`--${f.name}${f.arg ? ` ${f.arg}` : ''}\``).join(', '),
        `\`${s.env}\``,
        defaultDoc(s),
      ]);
    expect(rows.sort()).toEqual(expected.sort());
  });
});

describe('deploy/20-deployment.yaml', () => {
  const text = read('deploy/20-deployment.yaml');
  // YAML 1.1, as kubectl reads it (see deploy.test.ts).
  const deployment = parseAllDocuments(text, { version: '1.1' })[0]?.toJS() as {
    spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
  };
  const env = deployment.spec.template.spec.containers[0]?.env ?? [];
  /** `# - name: X` lines: the opt-in settings, commented out. */
  const commented = [...text.matchAll(/^ *# - name: (\w+)/gm)].map((m) => m[1] as string);

  it('spells out each setting in env, or lists it as a commented opt-in line', () => {
    const listed = [...env.map((e) => e.name), ...commented].sort();
    expect(listed).toEqual(settings.map((s) => s.env).sort());
  });

  it('sets each variable in env to its default (or the value the setting says it deploys), and only known variables', () => {
    for (const { name, value } of env) {
      const setting = settings.find((s) => s.env === name);
      expect(setting, `${name} is a setting`).toBeDefined();
      expect(value, name).toBe(setting?.deployed ?? setting?.default);
    }
  });
});

/**
 * Changesets and Biome share .changeset/: what `pnpm changeset` writes (YAML front matter, then
 * the summary) must pass `pnpm run lint` and be left alone by `pnpm run format`. Biome reads
 * Markdown without front matter, so it turned the front matter into a heading; its formatter is
 * off for changeset files (biome.json, overrides). The files are written by the changesets
 * writer itself, and checked by Biome as if they were at their place in .changeset/.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const BIOME = join(root, 'node_modules/.bin/biome');
// The writer and parser `pnpm changeset` uses, resolved from the installed @changesets/cli.
const fromCli = createRequire(
  join(dirname(createRequire(import.meta.url).resolve('@changesets/cli/package.json')), 'x'),
);
const importFromCli = async (name: string) =>
  import(pathToFileURL(join(dirname(fromCli.resolve(`${name}/package.json`)), 'dist/index.mjs')).href);

type Release = { name: string; type: 'major' | 'minor' | 'patch' };
const scratch = mkdtempSync(join(tmpdir(), 'kube-audit-changesets-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A changeset as `pnpm changeset` writes it (the writer's own formatting off, as in .changeset/config.json). */
async function writeChangeset(summary: string, releases: Release[]): Promise<string> {
  const { writeChangeset: write } = await importFromCli('@changesets/write');
  const id: string = await write({ summary, releases }, scratch, { format: false });
  return readFileSync(join(scratch, '.changeset', `${id}.md`), 'utf8');
}

/** `biome check --write` on `text` as the file `path` of the repository: its output and exit code. */
function biomeCheck(path: string, text: string) {
  const run = spawnSync(BIOME, ['check', '--write', `--stdin-file-path=${path}`], { cwd: root, input: text });
  return { code: run.status, output: run.stdout.toString(), errors: run.stderr.toString() };
}

describe('a changeset written by pnpm changeset', () => {
  it.each([
    [
      'a release with a one-line summary',
      'Settings are described once.',
      [{ name: '@kube-audit/core', type: 'minor' }],
    ],
    [
      'a release with a longer summary',
      'Redaction targets are one table.\n\n- `Secret` data\n- TokenRequest *status.token*',
      [{ name: '@kube-audit/core', type: 'patch' }],
    ],
    ['an empty changeset (pnpm changeset --empty)', '', []],
  ] as [string, string, Release[]][])('passes lint unchanged: %s', async (_case, summary, releases) => {
    const text = await writeChangeset(summary, releases);
    expect(text.startsWith('---\n')).toBe(true);
    const checked = biomeCheck('.changeset/written-by-changesets.md', text);
    expect(checked.errors).toBe('');
    expect(checked.code).toBe(0);
    expect(checked.output).toBe(text);
    // And changesets still reads it back.
    const { default: parse } = await importFromCli('@changesets/parse');
    expect(parse(checked.output)).toEqual({ summary, releases });
  });

  it('is what Biome would rewrite anywhere else (the override is what lets it through)', async () => {
    const text = await writeChangeset('Settings are described once.', [{ name: '@kube-audit/core', type: 'minor' }]);
    expect(biomeCheck('docs/written-by-changesets.md', text).output).not.toBe(text);
  });

  it('leaves the .changeset README formatted like any other Markdown', () => {
    expect(readdirSync(join(root, '.changeset'))).toContain('README.md');
    const text = readFileSync(join(root, '.changeset/README.md'), 'utf8');
    expect(biomeCheck('.changeset/README.md', `${text}\n\n\n`).output).toBe(text);
  });
});

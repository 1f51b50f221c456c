/**
 * The README's reference sections against the source: the options tables list every option with
 * its `@default`, and the Exports section names exactly what src/index.ts exports. (The usage
 * examples are run against the packed package in package.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { publicApi } from './support/api';
import { README } from './support/readme';

const readme = readFileSync(README, 'utf8');

/** The section under the first heading that contains `heading`, up to the next heading. */
function section(heading: string): string {
  const start = readme.split('\n').findIndex((line) => /^#{2,4} /.test(line) && line.includes(heading));
  if (start < 0) throw new Error(`README.md has no heading with ${heading}`);
  const lines = readme.split('\n').slice(start + 1);
  const end = lines.findIndex((line) => /^#{1,4} /.test(line));
  return lines.slice(0, end < 0 ? undefined : end).join('\n');
}

/** `| \`name\` | type | default | … |` rows: name → default, as written (backticks dropped). */
function optionsTable(text: string): Record<string, string> {
  const rows: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const name = /^`(\w+)`$/.exec(cells[1] ?? '')?.[1];
    if (name) rows[name] = (cells[3] ?? '').replaceAll('`', '');
  }
  return rows;
}

describe('README.md', () => {
  for (const [name, heading] of [
    ['PipelineOptions', 'createPipeline('],
    ['ParseOptions', 'parsePayload('],
  ] as const) {
    it(`lists every ${name} option with its default`, () => {
      const fromSource = Object.fromEntries(
        publicApi()
          .options(name)
          .map((o) => [o.name, o.default || 'none']),
      );
      expect(optionsTable(section(heading))).toEqual(fromSource);
    });
  }

  it('names exactly the exported names in its Exports section', () => {
    const listed = [...section('Exports').matchAll(/`(\w+)`/g)].map((m) => m[1]);
    const exported = publicApi().names.map((n) => n.name);
    expect([...new Set(listed)].sort()).toEqual([...exported].sort());
  });
});

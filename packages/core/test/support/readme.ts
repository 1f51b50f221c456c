/**
 * The usage examples of packages/core/README.md, read the way the package tests run them.
 *
 * Conventions (the README relies on them):
 * - Every ```ts or ```js fence is an example, run as written against the installed package.
 * - A ```text fence right after it (blank lines between are fine, prose is not) is exactly what
 *   the example prints on stdout; an example without one must print nothing.
 * - An example whose first line is `// file: NAME.ts` is a module that other examples import as
 *   `./NAME.js` (the TypeScript convention); it is type-checked and imported, not run on its own.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const README = fileURLToPath(new URL('../../README.md', import.meta.url));

export interface Example {
  /** 1-based line of the opening fence, to name the example in test output. */
  readonly line: number;
  readonly lang: 'ts' | 'js';
  readonly code: string;
  /** The module's file name for `// file:` examples, else undefined. */
  readonly file: string | undefined;
  /** What it prints; '' when no text block follows. */
  readonly expected: string;
}

interface Fence {
  line: number;
  info: string;
  body: string;
  /** Index of the first line after the closing fence. */
  next: number;
}

function readFence(lines: string[], start: number): Fence {
  const info = (lines[start] as string).slice(3).trim();
  const body: string[] = [];
  let i = start + 1;
  while (i < lines.length && !/^```\s*$/.test(lines[i] as string)) body.push(lines[i++] as string);
  if (i >= lines.length) throw new Error(`README.md:${start + 1}: unclosed code fence`);
  return { line: start + 1, info, body: body.length ? `${body.join('\n')}\n` : '', next: i + 1 };
}

export function readmeExamples(text = readFileSync(README, 'utf8')): Example[] {
  const lines = text.split('\n');
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!(lines[i] as string).startsWith('```')) continue;
    const fence = readFence(lines, i);
    i = fence.next - 1;
    const lang = { ts: 'ts', typescript: 'ts', js: 'js', javascript: 'js' }[fence.info] as Example['lang'] | undefined;
    if (!lang) continue;
    let j = fence.next;
    while (j < lines.length && (lines[j] as string).trim() === '') j++;
    let expected = '';
    if (lines[j]?.startsWith('```text')) {
      const output = readFence(lines, j);
      expected = output.body;
      i = output.next - 1;
    }
    const file = /^\/\/ file: (\S+)\s*$/.exec(fence.body.split('\n')[0] as string)?.[1];
    examples.push({ line: fence.line, lang, code: fence.body, file, expected });
  }
  return examples;
}

/** The name an example is written under: its own for `// file:` modules, else by line. */
export function exampleBaseName(example: Example): string {
  return example.file ? example.file.replace(/\.[cm]?[jt]s$/, '') : `readme-${example.line}`;
}

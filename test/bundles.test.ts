/**
 * End-to-end tests run the built bundles; the global setup rebuilds a bundle whose sources are
 * newer, so that one test file run on its own tests the current code.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUNDLES, type Bundle, isStale } from './support/bundles';

describe('the bundles under test', () => {
  it('are at least as new as every source they are built from', () => {
    expect(BUNDLES.filter((bundle) => isStale(bundle)).map((bundle) => bundle.name)).toEqual([]);
  });
});

describe('isStale', () => {
  const bundle: Bundle = { name: 'app', dir: 'app', outputs: ['dist/app.js'], inputs: ['app/src', 'shared.json'] };
  let root: string;
  /** Sets a file's modification time, in seconds from now. */
  const age = (path: string, seconds: number) => {
    const time = new Date(Date.now() + seconds * 1000);
    utimesSync(join(root, path), time, time);
  };
  const layout = () => {
    root = mkdtempSync(join(tmpdir(), 'kube-audit-bundles-'));
    mkdirSync(join(root, 'app/src/lib'), { recursive: true });
    mkdirSync(join(root, 'app/dist'));
    for (const file of ['app/src/main.ts', 'app/src/lib/util.ts', 'shared.json']) writeFileSync(join(root, file), '');
    for (const path of ['app/src/main.ts', 'app/src/lib/util.ts', 'app/src/lib', 'app/src', 'shared.json'])
      age(path, -60);
  };
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is true while an output is missing', () => {
    layout();
    expect(isStale(bundle, root)).toBe(true);
  });

  it('is false when the outputs are newer than every input', () => {
    layout();
    writeFileSync(join(root, 'app/dist/app.js'), '');
    expect(isStale(bundle, root)).toBe(false);
  });

  it.each([
    ['a source file deep in a directory', 'app/src/lib/util.ts'],
    ['an input file', 'shared.json'],
  ])('is true when %s changed after the build', (_what, path) => {
    layout();
    writeFileSync(join(root, 'app/dist/app.js'), '');
    age('app/dist/app.js', -30);
    age(path, 0);
    expect(isStale(bundle, root)).toBe(true);
  });

  it('is true when a source file was added or removed (its directory changed)', () => {
    layout();
    writeFileSync(join(root, 'app/dist/app.js'), '');
    age('app/dist/app.js', -30);
    rmSync(join(root, 'app/src/lib/util.ts'));
    expect(isStale(bundle, root)).toBe(true);
  });

  it('ignores tests beside the code, which are not bundled', () => {
    layout();
    writeFileSync(join(root, 'app/dist/app.js'), '');
    age('app/dist/app.js', -30);
    writeFileSync(join(root, 'app/src/main.test.ts'), '');
    age('app/src/main.test.ts', 0);
    age('app/src', -60);
    expect(isStale(bundle, root)).toBe(false);
  });
});

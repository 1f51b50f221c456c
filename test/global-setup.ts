/**
 * Vitest global setup: before any test file runs (and before each re-run in watch mode), the
 * receiver and CLI bundles are rebuilt if a source is newer, so that running one end-to-end test
 * file tests the code as it is now, not as it was at the last `pnpm run build`.
 */
import type { TestProject } from 'vitest/node';
import { buildStaleBundles } from './support/bundles';

export default function setup(project: TestProject): void {
  const build = () => {
    const rebuilt = buildStaleBundles();
    if (rebuilt.length > 0)
      console.info(`rebuilt the ${rebuilt.join(' and ')} bundle${rebuilt.length > 1 ? 's' : ''} (sources were newer)`);
  };
  build();
  project.onTestsRerun(build);
}

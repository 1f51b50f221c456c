import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'apps/*/src/**/*.test.ts',
      'apps/*/test/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    // Rebuilds the receiver and CLI bundles when their sources are newer (test/support/bundles.ts).
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    // VITEST_JSON=FILE also writes a JSON report there (CI prints its summary line from it).
    reporters: process.env.VITEST_JSON ? ['default', 'json'] : ['default'],
    ...(process.env.VITEST_JSON ? { outputFile: { json: process.env.VITEST_JSON } } : {}),
    hookTimeout: 60_000,
  },
});

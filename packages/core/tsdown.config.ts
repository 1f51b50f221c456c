import { defineConfig } from 'tsdown';

// The published build: one ESM file and its declarations. The package runs on Node, Bun, Deno and
// edge runtimes alike, so nothing Node-specific is assumed (platform neutral), and the peer/runtime
// dependencies stay imports so that a consumer's own zod is the one the schemas are built with.
export default defineConfig({
  entry: ['src/index.ts'],
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  outDir: 'dist',
  clean: true,
  dts: true,
  sourcemap: false,
  hash: false,
  external: ['zod', 'yaml', /^zod\//],
  report: false,
});

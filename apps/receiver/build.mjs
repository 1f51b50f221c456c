// Bundle the receiver into one file per runtime: the image then needs no node_modules.
import { build } from 'esbuild';

const common = {
  bundle: true,
  format: 'esm',
  minifySyntax: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
  // Bundled CommonJS dependencies (prom-client) call require(); give ESM output one.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
};
await build({ ...common, entryPoints: ['src/node.ts'], outfile: 'dist/node.js', platform: 'node', target: 'node20' });
await build({ ...common, entryPoints: ['src/bun.ts'], outfile: 'dist/bun.js', platform: 'node', target: 'node20' });

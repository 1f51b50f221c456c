// Fill in krew/audit.yaml for a release: the version from package.json, and for each archive in
// dist/standalone its URL (under --base-url, where the release's files are published) and sha256.
//
//   node scripts/krew-manifest.mjs --base-url https://example.com/releases/v0.1.0 --homepage https://example.com > audit.yaml
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { 'base-url': { type: 'string' }, homepage: { type: 'string' } } });
if (!values['base-url'] || !values.homepage) {
  console.error('usage: node scripts/krew-manifest.mjs --base-url URL --homepage URL');
  process.exit(2);
}
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const archive = 'kubectl-audit-linux-x64.tar.gz';
const sha256 = createHash('sha256')
  .update(readFileSync(join(root, 'dist', 'standalone', archive)))
  .digest('hex');
const fields = {
  VERSION: version,
  HOMEPAGE: values.homepage,
  URI_LINUX_X64: `${values['base-url'].replace(/\/+$/, '')}/${archive}`,
  SHA256_LINUX_X64: sha256,
};
const template = readFileSync(join(root, 'krew', 'audit.yaml'), 'utf8');
process.stdout.write(
  // Each ${NAME} stands inside a double-quoted YAML string, where JSON's escapes are valid too.
  template.replace(/^(#.*\n)+/, '').replace(/\$\{(\w+)\}/g, (_, name) => {
    if (!(name in fields)) throw new Error(`krew/audit.yaml: unknown field \${${name}}`);
    return JSON.stringify(fields[name]).slice(1, -1);
  }),
);

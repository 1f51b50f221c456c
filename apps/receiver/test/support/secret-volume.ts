/**
 * A directory laid out and updated the way the kubelet updates a mounted Secret (its
 * AtomicWriter): the files are symlinks into `..data`, itself a symlink to a timestamped
 * directory; an update writes a new directory and swaps `..data` with one rename, so readers see
 * the old set or the new set, never a mix, and no file is ever written in place.
 */
import { mkdirSync, mkdtempSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class SecretVolume {
  readonly dir = mkdtempSync(join(tmpdir(), 'kube-audit-secret-'));
  private generation = 0;
  private names = new Set<string>();

  constructor(files: Record<string, string> = {}) {
    if (Object.keys(files).length > 0) this.update(files);
  }

  /** The path a container would read, e.g. `/certificates/tls.crt`. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** Replaces the whole content, as a change to the Secret does. */
  update(files: Record<string, string>): void {
    this.generation += 1;
    const data = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${this.generation}`;
    mkdirSync(join(this.dir, data), { mode: 0o755 });
    for (const [name, content] of Object.entries(files)) writeFileSync(join(this.dir, data, name), content);
    let previous: string | undefined;
    try {
      previous = readlinkSync(join(this.dir, '..data'));
    } catch {
      previous = undefined;
    }
    symlinkSync(data, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const name of Object.keys(files)) {
      if (!this.names.has(name)) symlinkSync(`..data/${name}`, join(this.dir, name));
    }
    for (const name of this.names) {
      if (!(name in files)) rmSync(join(this.dir, name));
    }
    this.names = new Set(Object.keys(files));
    if (previous) rmSync(join(this.dir, previous), { recursive: true, force: true });
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * @module
 * Notice when files change on disk. A mounted Secret is updated by swapping a `..data` symlink in
 * its directory, which replaces the files without writing to them, so the directories are
 * watched (inotify where there is one) and, in case events are missed (network filesystems,
 * a directory that appears later), each file's identity is also polled every few seconds.
 */
import { type FSWatcher, statSync, watch } from 'node:fs';
import { dirname } from 'node:path';

export interface WatchFilesOptions {
  /** Poll interval. @default 5000 */
  intervalMs?: number;
  /** Wait this long after the last event before reporting, so a multi-file update lands whole. @default 200 */
  settleMs?: number;
}

export interface FileWatch {
  close(): void;
}

/** Identity of what a path leads to now: a swapped symlink yields a new inode. */
function identity(file: string): string {
  try {
    const stat = statSync(file);
    return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
  } catch (error) {
    return `missing:${(error as { code?: string }).code ?? ''}`;
  }
}

/**
 * Calls `onChange` (once per burst of changes) when any of `files` changes, appears or goes away.
 *
 * @example
 * const watcher = watchFiles(['/certificates/tls.crt', '/certificates/tls.key'], reload);
 * watcher.close();
 */
export function watchFiles(files: readonly string[], onChange: () => void, options: WatchFilesOptions = {}): FileWatch {
  const { intervalMs = 5000, settleMs = 200 } = options;
  let seen = files.map(identity).join('|');
  let settle: ReturnType<typeof setTimeout> | undefined;

  const check = function checkFiles() {
    settle = undefined;
    const now = files.map(identity).join('|');
    if (now === seen) return;
    seen = now;
    onChange();
  };
  const soon = () => {
    if (settle) clearTimeout(settle);
    settle = setTimeout(check, settleMs);
    settle.unref?.();
  };

  const watchers: FSWatcher[] = [];
  for (const dir of new Set(files.map((file) => dirname(file)))) {
    try {
      const watcher = watch(dir, { persistent: false }, soon);
      watcher.on('error', () => watcher.close());
      watchers.push(watcher);
    } catch {
      // The directory may not exist yet, or the platform has no watch: polling covers it.
    }
  }
  const poll = setInterval(check, intervalMs);
  poll.unref?.();

  return {
    close() {
      clearInterval(poll);
      if (settle) clearTimeout(settle);
      for (const watcher of watchers) watcher.close();
    },
  };
}

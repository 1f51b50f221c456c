/**
 * @module
 * The one error the CLI reports as a usage or configuration problem (exit code 2): a bad flag, a
 * missing value, an unreadable file, an invalid policy. Its message names the flag or file.
 */

/** Exit code for usage and configuration errors. */
export const EXIT_USAGE = 2;

export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = EXIT_USAGE;
}

/** A short reason for a failed file operation, without Node's `ENOENT: ..., open 'x'` noise. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'not a directory';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

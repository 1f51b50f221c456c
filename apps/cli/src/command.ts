/**
 * @module
 * What a subcommand is: its help (with an example) and a `run` that gets its own argv and the
 * process's streams, and returns the exit code. Its name and summary are in main's list, which
 * loads a command's module only when it is asked for.
 */

/** The streams a command uses; `main` passes the process's own. */
export interface Io {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

export interface Command {
  /** The command's `--help`, ending with an example. */
  help: string;
  /** @returns the exit code: 0 ok, 1 invalid input under --strict or failed delivery. */
  run(argv: string[], io: Io): Promise<number>;
}

/** Exit code for invalid input under `--strict` and for failed delivery. */
export const EXIT_FAILED = 1;

/**
 * @module
 * The bearer token from `AUTH_TOKEN_FILE`, re-read when the file changes so that a rotated
 * Secret takes effect without a restart. The app asks for the token on every request; the file is
 * looked at (one `stat`) at most once a second, and read only when it has changed.
 */
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from './logger';

export class TokenFileError extends Error {
  override readonly name = 'TokenFileError';
}

export interface TokenSourceOptions {
  logger: Logger;
  /** Minimum time between two looks at the file. @default 1000 */
  checkIntervalMs?: number;
  /** Called after each re-read with whether the new token was taken. */
  onReload?: (ok: boolean) => void;
  /** Clock, in milliseconds. @default Date.now */
  now?: () => number;
}

export interface TokenSource {
  /** The token in force: the file's, or the last good one while the file is unreadable or empty. */
  current(): string;
}

/** What changes when a file is rewritten or, as in a mounted Secret, swapped through a symlink. */
function signature(file: string): string {
  const stat = statSync(file);
  return `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
}

/**
 * The file holds one token; surrounding whitespace (a trailing newline) is ignored, as client-go
 * ignores it in the webhook kubeconfig's `tokenFile`.
 */
function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new TokenFileError(`cannot read ${file}: ${(error as { code?: string }).code ?? String(error)}`);
  }
  const token = text.trim();
  if (token === '') throw new TokenFileError(`${file} is empty`);
  // The Authorization header carries the token as one word (RFC 6750 §2.1).
  if (/\s/.test(token)) throw new TokenFileError(`${file} must hold one token without spaces or line breaks`);
  return token;
}

/**
 * @throws {TokenFileError} when the file cannot be read or holds no token at start-up.
 * @example
 * const token = createTokenSource('/certificates/token', { logger });
 * createApp({ …, authToken: () => token.current() });
 */
export function createTokenSource(file: string, options: TokenSourceOptions): TokenSource {
  const { logger, checkIntervalMs = 1000, onReload, now = Date.now } = options;
  let token = readToken(file);
  let seen = signature(file);
  let checkedAt = now();

  return {
    current: function currentToken() {
      if (now() - checkedAt < checkIntervalMs) return token;
      checkedAt = now();
      let next: string;
      try {
        next = signature(file);
      } catch {
        // Between the two steps of a symlink swap the file can be missing for a moment.
        return token;
      }
      if (next === seen) return token;
      seen = next;
      try {
        const read = readToken(file);
        const changed = read !== token;
        token = read;
        onReload?.(true);
        if (changed) logger.info('bearer token reloaded', { file });
      } catch (error) {
        // Never fall back to no authentication: keep the token that was in force.
        onReload?.(false);
        logger.error('bearer token file rejected; keeping the previous token', { file, error });
      }
      return token;
    },
  };
}

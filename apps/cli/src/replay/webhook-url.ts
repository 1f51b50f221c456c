/**
 * @module
 * The URL the API server's webhook posts to, built the way client-go builds it from the webhook
 * kubeconfig's `server`: the path cleaned by `path.Join` (no trailing slash), the server's own
 * query dropped, and `?timeout=` added from the client's timeout (client-go rest/request.go URL()).
 */
import { posix } from 'node:path';
import { formatDuration } from '../durations';
import { UsageError } from '../usage-error';

/**
 * @throws {UsageError} when `text` is not an http(s) URL.
 * @example
 * webhookUrl('https://kube-audit.example/audit/?x=1', 30_000).href;
 * // 'https://kube-audit.example/audit?timeout=30s'
 */
export function webhookUrl(text: string, timeoutMs: number): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--url: not a URL (got ${JSON.stringify(text)})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url: must be an http:// or https:// URL (got ${JSON.stringify(text)})`);
  }
  const cleaned = posix.join('/', url.pathname);
  url.pathname = cleaned.length > 1 && cleaned.endsWith('/') ? cleaned.slice(0, -1) : cleaned;
  url.search = `?timeout=${formatDuration(timeoutMs)}`;
  url.hash = '';
  return url;
}

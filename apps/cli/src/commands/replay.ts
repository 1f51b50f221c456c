/**
 * @module
 * `kube-audit replay`: send a log's events to a receiver as the API server's webhook would: the
 * same batches, URL, headers, throttle, retries and concurrency, as fast as possible or at the
 * log's own rhythm (`--pace`).
 */
import { statSync } from 'node:fs';
import type { AuditEvent } from '@kube-audit/core';
import { decimalNumber, duration, parseFlags, readFlagFile, wholeNumber } from '../args';
import { STDIN } from '../bytes';
import { type Command, EXIT_FAILED } from '../command';
import { checkInputs, readEvents } from '../input';
import { escapeControl, plural, reportInvalid } from '../output';
import { formatFlag, formatHelp, formatOf } from '../records';
import { type Batch, createBatcher } from '../replay/batcher';
import { createDelivery, MAX_ATTEMPTS } from '../replay/delivery';
import { createPoster } from '../replay/http-post';
import { eventTimeOf, MAX_BATCH_WAIT_MS, parsePace } from '../replay/pace';
import { createProgress } from '../replay/progress';
import { createThrottle, realClock } from '../replay/throttle';
import { webhookUrl } from '../replay/webhook-url';
import { UsageError } from '../usage-error';
import { VERSION } from '../version';

const flags = {
  ...formatFlag,
  url: { type: 'string' },
  'batch-size': { type: 'string' },
  qps: { type: 'string' },
  burst: { type: 'string' },
  'initial-backoff': { type: 'string' },
  timeout: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'insecure-skip-tls-verify': { type: 'boolean' },
  'token-file': { type: 'string' },
  'allow-insecure-token': { type: 'boolean' },
  concurrency: { type: 'string' },
  pace: { type: 'string' },
  strict: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
} as const;

const help = `Usage: kube-audit replay --url URL [flags] [FILE…]

Send the events of audit logs to a webhook receiver the way kube-apiserver's audit webhook does
(batch mode): EventList batches whose items carry no kind/apiVersion, POST to the URL's path
with ?timeout=30s, Content-Type application/json, a batch throttle, and the API server's retry
rule: any non-2xx answer or network error is retried, 5 attempts, backoff ×1.5 with jitter 0.2;
a 429/5xx with an integer Retry-After is re-posted within the attempt (up to 10 times).
A batch is cut at --batch-size events and sent as EventLists of at most 10 MiB; batches are
sent concurrently (the API server's AsyncDelegate), up to --concurrency at once.
With --pace, events are replayed when they happened (stageTimestamp), from the log's first
event on, and a batch is also cut when 30 s of the log's time have passed since the last cut
(--audit-webhook-batch-max-wait); the last batch goes when the log ends.
Events are sent as they are; no pipeline runs.
Input is read as by 'kube-audit process' (JSON lines or one document, gzip, - for stdin,
EKS, AKS, GKE and OpenShift exports: history from a managed cluster can be sent this way).

Flags:
  --url URL                    the receiver, e.g. https://kube-audit.example/audit (required)
  --batch-size N               events per batch (default 400, --audit-webhook-batch-max-size)
  --qps RATE                   batches per second (default 10; 0 = no throttle)
  --burst N                    batches sent at once before the throttle applies (default 15)
  --initial-backoff DURATION   first wait between attempts (default 10s, --audit-webhook-initial-backoff)
  --timeout DURATION           limit per attempt, Retry-After waits included (default 30s)
  --ca FILE                    CA certificate(s) to verify the receiver (PEM)
  --cert FILE, --key FILE      client certificate and key for mutual TLS (PEM)
  --insecure-skip-tls-verify   do not verify the receiver's certificate
  --token-file FILE            send Authorization: Bearer <the file's content>; needs an https:// --url
  --allow-insecure-token       send the token over plain http:// anyway (anyone on the path can read it)
  --concurrency N              batches in flight at once (default 10; 1 = one at a time, in order)
  --pace original|Nx|none      replay at the log's rhythm, N times faster (e.g. 60x), or as fast as
                               possible (default none)
  --strict                     exit 1 if any input was invalid
  -v, --verbose                report every failed attempt, not only dropped batches
${formatHelp(31)}

A progress line is shown on stderr when it is a terminal, and a summary at the end.
Exit code 1 when a batch was dropped after ${MAX_ATTEMPTS} attempts.

Example:
  kube-audit replay --url https://kube-audit.kube-audit.svc/audit --ca ca.crt --token-file token audit.log
`;

/** `kube-audit replay --url URL [FILE…]` */
export const replayCommand: Command = {
  help,
  async run(argv, io) {
    const started = performance.now();
    const { values, positionals } = parseFlags(argv, flags);
    if (values.url === undefined) throw new UsageError('--url is required (the receiver to send the events to)');
    const timeoutMs = duration('timeout', values.timeout, 30_000, false);
    const url = webhookUrl(values.url, timeoutMs);
    const batchSize = wholeNumber('batch-size', values['batch-size'], 400, 1);
    const qps = decimalNumber('qps', values.qps, 10);
    const burst = wholeNumber('burst', values.burst, 15, 1);
    const concurrency = wholeNumber('concurrency', values.concurrency, 10, 1);
    const speed = parsePace(values.pace);
    const initialBackoffMs = duration('initial-backoff', values['initial-backoff'], 10_000);
    if ((values.cert === undefined) !== (values.key === undefined))
      throw new UsageError('--cert and --key go together');
    const tls = values.ca !== undefined || values.cert !== undefined || values['insecure-skip-tls-verify'];
    if (tls && url.protocol !== 'https:') {
      throw new UsageError('--ca, --cert, --key and --insecure-skip-tls-verify need an https:// --url');
    }
    const token = readFlagFile('token-file', values['token-file'])?.trim();
    if (token === '') throw new UsageError(`--token-file: ${values['token-file']} is empty`);
    // A bearer token over plain HTTP can be read (and replayed) by anyone on the path.
    if (token !== undefined && url.protocol !== 'https:' && !values['allow-insecure-token']) {
      throw new UsageError(
        '--token-file over http:// would send the token in clear: use an https:// --url, ' +
          'or add --allow-insecure-token to send it anyway',
      );
    }
    const format = formatOf(values.format);
    const files = checkInputs(positionals, io.stdin);
    const poster = createPoster({
      url,
      ca: readFlagFile('ca', values.ca),
      cert: readFlagFile('cert', values.cert),
      key: readFlagFile('key', values.key),
      insecureSkipTlsVerify: values['insecure-skip-tls-verify'],
      token,
      userAgent: `kube-audit/${VERSION} (replay)`,
      maxSockets: concurrency,
    });

    const state = { fraction: undefined as number | undefined, events: 0, batches: 0, retries: 0, dropped: 0 };
    const totals = { read: 0, bytes: 0, sent: 0, droppedEvents: 0, retryAfterWaits: 0, invalid: 0 };
    const totalBytes = files.includes(STDIN) ? undefined : totalSize(files);
    const progress = createProgress(io.stderr);
    // Reading runs ahead of sending by up to a read: scale the bytes read by the share of events
    // sent. An estimate (reads are cut into chunks), so it is kept from going backwards.
    const showProgress = () => {
      if (totalBytes) {
        const estimate = (totals.bytes / totalBytes) * (state.events / Math.max(1, totals.read));
        state.fraction = Math.max(state.fraction ?? 0, estimate);
      }
      progress.update(state);
    };
    const say = (message: string) => {
      progress.clear();
      // auditIDs come from the log and error texts from the network: shown, never acted on.
      io.stderr.write(`kube-audit: ${escapeControl(message)}\n`);
    };
    const deliver = createDelivery({ post: poster.post, initialBackoffMs, timeoutMs });
    const throttle = createThrottle(qps, burst);

    /** Sends a batch's EventLists one after another, as the truncate backend hands them on. */
    const sendLists = async (lists: readonly Batch[], firstNumber: number) => {
      for (const [i, list] of lists.entries()) {
        const number = firstNumber + i;
        const result = await deliver(
          list.body,
          values.verbose
            ? (attempt, reason) => say(`batch ${number}: attempt ${attempt} failed: ${reason}`)
            : undefined,
        );
        state.batches++;
        state.events += list.events;
        state.retries += result.attempts - 1;
        totals.retryAfterWaits += result.retryAfterWaits;
        if (result.delivered) {
          totals.sent += list.events;
        } else {
          state.dropped++;
          totals.droppedEvents += list.events;
          say(
            `batch ${number} (${plural(list.events, 'event')} from auditID ${list.firstAuditID}) dropped ` +
              `after ${plural(result.attempts, 'attempt')}: ${result.lastError}`,
          );
        }
        showProgress();
      }
    };

    // buffered.go processEvents: the throttle, then the batch goes off in a goroutine of its own
    // (AsyncDelegate) while the next is collected; --concurrency bounds how many are in flight.
    const inFlight = new Set<Promise<void>>();
    let numbered = 0;
    const dispatch = async (lists: readonly Batch[]) => {
      if (lists.length === 0) return;
      while (inFlight.size >= concurrency) await Promise.race(inFlight);
      await throttle.take();
      const sending = sendLists(lists, numbered + 1).finally(() => inFlight.delete(sending));
      numbered += lists.length;
      inFlight.add(sending);
    };

    // --pace: the log's time. `now` never goes back (events are logged close to, not exactly in,
    // time order); the MaxBatchWait timer starts at the first event and restarts at each cut.
    let firstEventTime: number | undefined;
    let startedAt = 0;
    let now = 0;
    let windowStart = 0;
    const waitUntil = async (eventTime: number) => {
      if (speed === undefined || firstEventTime === undefined) return;
      const due = startedAt + (eventTime - firstEventTime) / speed;
      const wait = due - realClock.now();
      if (wait > 0) await realClock.sleep(wait);
    };
    const advance = async (event: AuditEvent) => {
      const time = eventTimeOf(event);
      if (firstEventTime === undefined) {
        if (time === undefined) return;
        firstEventTime = now = windowStart = time;
        startedAt = realClock.now();
        return;
      }
      if (time !== undefined && time > now) now = time;
      if (now >= windowStart + MAX_BATCH_WAIT_MS) {
        // The timer fired at windowStart + 30 s with what was collected, then every 30 s (on nothing).
        const fired = windowStart + MAX_BATCH_WAIT_MS;
        await waitUntil(fired);
        await dispatch(batcher.cut());
        windowStart += Math.floor((now - windowStart) / MAX_BATCH_WAIT_MS) * MAX_BATCH_WAIT_MS;
      }
      await waitUntil(now);
    };

    const batcher = createBatcher(batchSize);
    try {
      const onRead = (bytes: number) => {
        totals.bytes += bytes;
      };
      for await (const chunk of readEvents(files, { stdin: io.stdin, onRead, format })) {
        if (chunk.invalid.length > 0) {
          progress.clear();
          totals.invalid += chunk.invalid.length;
          await reportInvalid(io.stderr, chunk.invalid);
        }
        totals.read += chunk.events.length;
        for (const event of chunk.events) {
          if (speed !== undefined) await advance(event);
          const full = batcher.add(event);
          if (full) {
            await dispatch(full);
            windowStart = now;
          }
        }
        showProgress();
      }
      await dispatch(batcher.cut());
      while (inFlight.size > 0) await Promise.race(inFlight);
    } finally {
      poster.close();
      progress.clear();
    }

    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    const delivered = state.batches - state.dropped;
    io.stderr.write(
      `kube-audit replay: delivered ${plural(totals.sent, 'event')} in ${plural(delivered, 'batch')}, ` +
        `dropped ${plural(state.dropped, 'batch')} (${plural(totals.droppedEvents, 'event')}), ` +
        `${plural(state.retries, 'retry')}, ${plural(totals.retryAfterWaits, 'Retry-After re-post')}, ` +
        `${totals.invalid} invalid, in ${seconds}s\n`,
    );
    return state.dropped > 0 || (values.strict && totals.invalid > 0) ? EXIT_FAILED : 0;
  },
};

function totalSize(files: readonly string[]): number {
  let total = 0;
  for (const file of files) total += statSync(file).size;
  return total;
}

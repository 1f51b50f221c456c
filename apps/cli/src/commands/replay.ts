/**
 * @module
 * `kube-audit replay`: send a log's events to a receiver as the API server's webhook would: the
 * same batches, URL, headers, throttle and retries. Batches go one at a time (the API server posts
 * them concurrently); one at a time keeps the order and makes the counts exact.
 */
import { statSync } from 'node:fs';
import { decimalNumber, duration, parseFlags, readFlagFile, wholeNumber } from '../args';
import { STDIN } from '../bytes';
import { type Command, EXIT_FAILED } from '../command';
import { checkInputs, readEvents } from '../input';
import { plural, reportInvalid } from '../output';
import { formatFlag, formatHelp, formatOf } from '../records';
import { type Batch, createBatcher } from '../replay/batcher';
import { createDelivery, MAX_ATTEMPTS } from '../replay/delivery';
import { createPoster } from '../replay/http-post';
import { createProgress } from '../replay/progress';
import { createThrottle } from '../replay/throttle';
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
  strict: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
} as const;

const help = `Usage: kube-audit replay --url URL [flags] [FILE…]

Send the events of audit logs to a webhook receiver the way kube-apiserver's audit webhook does
(batch mode): EventList batches whose items carry no kind/apiVersion, POST to the URL's path
with ?timeout=30s, Content-Type application/json, a batch throttle, and the API server's retry
rule: any non-2xx answer or network error is retried, 5 attempts, backoff ×1.5 with jitter 0.2;
a 429/5xx with an integer Retry-After is re-posted within the attempt (up to 10 times).
Batches are sent one at a time. Events are sent as they are; no pipeline runs.
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
  --token-file FILE            send Authorization: Bearer <the file's content>
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
  name: 'replay',
  summary: "send log events to a receiver as the API server's webhook does",
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
    const initialBackoffMs = duration('initial-backoff', values['initial-backoff'], 10_000);
    if ((values.cert === undefined) !== (values.key === undefined))
      throw new UsageError('--cert and --key go together');
    const tls = values.ca !== undefined || values.cert !== undefined || values['insecure-skip-tls-verify'];
    if (tls && url.protocol !== 'https:') {
      throw new UsageError('--ca, --cert, --key and --insecure-skip-tls-verify need an https:// --url');
    }
    const token = readFlagFile('token-file', values['token-file'])?.trim();
    if (token === '') throw new UsageError(`--token-file: ${values['token-file']} is empty`);
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
      io.stderr.write(`kube-audit: ${message}\n`);
    };
    const deliver = createDelivery({
      post: poster.post,
      initialBackoffMs,
      timeoutMs,
      onAttemptFailed: values.verbose
        ? (attempt, reason) => say(`batch ${state.batches + 1}: attempt ${attempt} failed: ${reason}`)
        : undefined,
    });
    const throttle = createThrottle(qps, burst);

    const send = async (batch: Batch) => {
      await throttle.take();
      const result = await deliver(batch.body);
      state.batches++;
      state.events += batch.events;
      state.retries += result.attempts - 1;
      totals.retryAfterWaits += result.retryAfterWaits;
      if (result.delivered) {
        totals.sent += batch.events;
      } else {
        state.dropped++;
        totals.droppedEvents += batch.events;
        say(
          `batch ${state.batches} (${plural(batch.events, 'event')} from auditID ${batch.firstAuditID}) dropped ` +
            `after ${plural(result.attempts, 'attempt')}: ${result.lastError}`,
        );
      }
      showProgress();
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
          const batch = batcher.add(event);
          if (batch) await send(batch);
        }
        showProgress();
      }
      const last = batcher.flush();
      if (last) await send(last);
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

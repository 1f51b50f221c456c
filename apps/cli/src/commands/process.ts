/**
 * @module
 * `kube-audit process`: the receiver's pipeline over audit log files and stdin, one JSON line per
 * event on stdout, exactly as the receiver would have written the same events.
 */
import { type BatchContext, createPipeline } from '@kube-audit/core';
import { parseFlags } from '../args';
import { type Command, EXIT_FAILED } from '../command';
import { checkInputs, readEvents } from '../input';
import { escapeControl, plural, reportInvalid, writeAll } from '../output';
import { pipelineFlags, pipelineHelp, pipelineOptionsOf } from '../pipeline-flags';
import { formatFlag, formatHelp, formatOf } from '../records';

const flags = {
  ...pipelineFlags,
  ...formatFlag,
  strict: { type: 'boolean' },
  summary: { type: 'boolean' },
} as const;

/** The memory the lines of a read are written into (the pipeline adds arrays when they need more). */
const OUTPUT_BYTES = 1 << 20;
/** Less room than this left in it, a run of events gets a new array. */
const OUTPUT_RESERVE = 64 * 1024;

const help = `Usage: kube-audit process [flags] [FILE…]

Run the audit pipeline over audit logs and write one JSON line per event to stdout, as the
receiver does. FILE is JSON lines (what --audit-log-path writes) or one JSON document (an
EventList, an Event or an array); gzip is detected by content. No FILE, or -, reads stdin.
Cloud exports are read too, each line or document by its shape: EKS (CloudWatch Logs output,
subscription payloads, also base64, S3 exports), AKS (diagnostic records, Event Hub bodies, Log
Analytics rows), GKE (Cloud Logging entries, rebuilt) and OpenShift (ClusterLogForwarder records).
The cluster an envelope names is the kube-audit/cluster annotation, unless --cluster is given.

Invalid input is reported on stderr as FILE:LINE: reason (never the line itself).

${pipelineHelp}

Input:
${formatHelp(29)}

Output:
  --strict                   exit 1 if any input was invalid (all input is still processed)
  --summary                  print counts to stderr at the end (always when stderr is a terminal)

Example:
  kube-audit process --policy audit-policy.yaml --cluster prod-eu /var/log/kube-audit/audit.log*.gz > events.jsonl
`;

/** `kube-audit process [FILE…]` */
export const processCommand: Command = {
  help,
  async run(argv, io) {
    const started = performance.now();
    const { values, positionals } = parseFlags(argv, flags);
    const options = pipelineOptionsOf(values, (message) =>
      io.stderr.write(`kube-audit: ${escapeControl(message, true)}\n`),
    );
    const format = formatOf(values.format);
    const files = checkInputs(positionals, io.stdin);
    const pipeline = createPipeline(options);
    // The lines of each read are written from this memory, not from a new array per read.
    const output = new Uint8Array(OUTPUT_BYTES);
    const totals = { received: 0, written: 0, policy: 0, duplicate: 0, invalid: 0, truncated: 0, cut: 0, redacted: 0 };

    for await (const chunk of readEvents(files, { stdin: io.stdin, format, reuse: true })) {
      await reportInvalid(io.stderr, chunk.invalid);
      totals.invalid += chunk.invalid.length;
      // Runs of events from the same cluster go through together (--cluster names them all); the
      // lines of a read are written at once, from memory reused once they are written.
      const pieces: Uint8Array[] = [];
      let bytes = 0;
      for (let start = 0; start < chunk.events.length; ) {
        const cluster = chunk.clusters[start];
        let end = start + 1;
        while (end < chunk.events.length && chunk.clusters[end] === cluster) end++;
        const context: BatchContext = options.cluster === undefined && cluster !== undefined ? { cluster } : {};
        // Each run after the lines of the runs before it.
        if (bytes + OUTPUT_RESERVE <= output.length) context.output = output.subarray(bytes);
        const result = pipeline.process({ events: chunk.events.slice(start, end) }, context);
        start = end;
        totals.received += result.received;
        totals.written += result.written;
        totals.policy += result.dropped.policy;
        totals.duplicate += result.dropped.duplicate;
        totals.truncated += result.truncated;
        totals.cut += result.cut;
        totals.redacted += result.redacted;
        for (const piece of result.chunks) {
          pieces.push(piece);
          bytes += piece.length;
        }
      }
      if (bytes > 0)
        await writeAll(io.stdout, pieces.length === 1 ? (pieces[0] as Uint8Array) : Buffer.concat(pieces, bytes));
    }

    if (values.summary || io.stderr.isTTY) {
      const seconds = ((performance.now() - started) / 1000).toFixed(2);
      io.stderr.write(
        `kube-audit process: read ${plural(totals.received, 'event')} (${totals.invalid} invalid), ` +
          `wrote ${plural(totals.written, 'line')}, dropped ${totals.policy} by policy and ` +
          `${plural(totals.duplicate, 'duplicate')}, truncated ${totals.truncated} (cut ${totals.cut}), redacted ${totals.redacted}, in ${seconds}s\n`,
      );
    }
    return values.strict && totals.invalid > 0 ? EXIT_FAILED : 0;
  },
};

/**
 * @module
 * `kube-audit stats`: who did what in an audit log, as a table or as JSON.
 */
import { parseFlags, wholeNumber } from '../args';
import { type Command, EXIT_FAILED } from '../command';
import { checkInputs, readEvents } from '../input';
import { reportInvalid, write } from '../output';
import { formatFlag, formatHelp, formatOf } from '../records';
import { renderTable } from '../stats/table';
import { createTally } from '../stats/tally';

const flags = {
  ...formatFlag,
  json: { type: 'boolean' },
  top: { type: 'string' },
  strict: { type: 'boolean' },
} as const;

const help = `Usage: kube-audit stats [flags] [FILE…]

Count the events of audit logs by verb, user, resource (resource/subresource, or the path of a
non-resource request), namespace, response code, level and stage, with the time range they
cover. Input is read as by 'kube-audit process' (JSON lines or one document, gzip, - for stdin,
EKS, AKS, GKE and OpenShift exports).
Events are counted as they are in the log; no pipeline runs.

Flags:
  --top N        values shown per table (default 10; the rest are summed in one row)
  --json         print every count as JSON instead of tables
  --strict       exit 1 if any input was invalid
${formatHelp(17)}

Example:
  kube-audit stats --top 5 /var/log/kubernetes/audit/audit.log
`;

/** `kube-audit stats [FILE…]` */
export const statsCommand: Command = {
  help,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags);
    const top = wholeNumber('top', values.top, 10, 1);
    const format = formatOf(values.format);
    const files = checkInputs(positionals, io.stdin);
    const tally = createTally();
    for await (const chunk of readEvents(files, { stdin: io.stdin, format, reuse: true })) {
      await reportInvalid(io.stderr, chunk.invalid);
      tally.addInvalid(chunk.invalid.length);
      for (const event of chunk.events) tally.add(event);
    }
    const report = tally.report();
    await write(io.stdout, values.json ? `${JSON.stringify(report, null, 2)}\n` : renderTable(tally, top));
    return values.strict && report.invalid > 0 ? EXIT_FAILED : 0;
  },
};

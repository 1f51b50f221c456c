/**
 * @module
 * `kube-audit`: dispatch to a subcommand, `--help` and `--version`, and turn errors into exit
 * codes: 0 ok, 1 invalid input under --strict or failed delivery, 2 usage or configuration error.
 */
import { createRequire } from 'node:module';
import type * as V8 from 'node:v8';
import type { Command, Io } from './command';
import { escapeControl, isBrokenPipe } from './output';
import { EXIT_USAGE, UsageError } from './usage-error';
import { VERSION } from './version';

/**
 * The commands, each with the one line of the tool's help. A command's module (and the core, the
 * YAML parser, node:http…) is loaded only when the command is run or its help is asked for.
 */
const commands: readonly { name: string; summary: string; load(): Promise<Command> }[] = [
  {
    name: 'process',
    summary: 'run the pipeline over audit logs; one JSON line per event on stdout',
    load: async () => (await import('./commands/process')).processCommand,
  },
  {
    name: 'replay',
    summary: "send log events to a receiver as the API server's webhook does",
    load: async () => (await import('./commands/replay')).replayCommand,
  },
  {
    name: 'stats',
    summary: 'count who did what: verbs, users, resources, namespaces, codes, time range',
    load: async () => (await import('./commands/stats')).statsCommand,
  },
];

const help = `Usage: kube-audit <command> [flags] [FILE…]

Kubernetes audit events from log files and stdin, through the same pipeline as the
kube-audit receiver (policy, redaction, dedupe, cluster annotation, size cap).

Commands:
${commands.map((command) => `  ${command.name.padEnd(9)} ${command.summary}`).join('\n')}

Flags:
  -h, --help     show help (also: kube-audit <command> --help)
  --version      print the version

Exit codes: 0 ok, 1 invalid input under --strict or failed delivery, 2 usage or configuration error.

Example:
  kube-audit process --policy audit-policy.yaml audit.log.gz | kube-audit stats
`;

/**
 * A command streams its input through short-lived objects: V8 would double its young generation
 * up to 2 × 16 MiB as they come, which adds as much to the peak memory and, measured on a large
 * log, nothing to the speed. It stays at its initial size. (Set at run time, as the tool runs
 * as `node kube-audit.js` too; V8 reads this flag each time it would grow that space.)
 */
function keepYoungGenerationSmall(): void {
  const v8 = createRequire(import.meta.url)('node:v8') as typeof V8;
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}

/** `--help` or `-h` anywhere before a `--` terminator. */
function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(help);
    return EXIT_USAGE;
  }
  if (name === '--version' || name === 'version') {
    io.stdout.write(`kube-audit ${VERSION}\n`);
    return 0;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = commands.find((command) => command.name === rest[0]);
    io.stdout.write(topic ? (await topic.load()).help : help);
    return 0;
  }
  const entry = commands.find((candidate) => candidate.name === name);
  if (!entry) {
    const names = commands.map((candidate) => candidate.name).join(', ');
    throw new UsageError(`unknown command ${JSON.stringify(name)} (commands: ${names}; see kube-audit --help)`);
  }
  const command = await entry.load();
  if (wantsHelp(rest)) {
    io.stdout.write(command.help);
    return 0;
  }
  keepYoungGenerationSmall();
  return command.run(rest, io);
}

// A reader that goes away (`kube-audit process big.log | head`) is a normal end, not an error.
process.stdout.on('error', (error) => {
  if (isBrokenPipe(error)) process.exit(0);
  throw error;
});

// Hidden: report peak memory, to check that a large log streams in bounded memory.
const argv = process.argv.slice(2);
const debugMemory = argv.includes('--debug-memory');
const io: Io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };

main(
  argv.filter((arg) => arg !== '--debug-memory'),
  io,
).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (isBrokenPipe(error)) process.exit(0);
    if (error instanceof UsageError) {
      // Messages can quote file names and flag values: shown, never acted on by the terminal.
      process.stderr.write(`kube-audit: ${escapeControl(error.message, true)}\n`);
      process.exitCode = error.exitCode;
    } else {
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
      process.stderr.write(`kube-audit: ${escapeControl(text, true)}\n`);
      process.exitCode = 1;
    }
  },
);

if (debugMemory) {
  process.on('exit', () => {
    const mib = (process.resourceUsage().maxRSS / 1024).toFixed(1);
    process.stderr.write(`kube-audit: peak RSS ${mib} MiB\n`);
  });
}

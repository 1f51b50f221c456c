/**
 * `kube-audit stats` as a real process: its counts are the log's own, computed here independently
 * with JSON.parse of each line.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { linesOf, REAL, runCli } from './support/cli';

const DEMO = `${REAL}audit2rbac/demo.log`;
/** The fields of a log line that stats counts. */
interface LogLine {
  verb: string;
  level: string;
  stage: string;
  requestURI: string;
  user?: { username?: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
  timestamp?: string;
}
const events = linesOf(readFileSync(DEMO, 'utf8')).map((line) => JSON.parse(line) as LogLine);

/** Count of each value, as a plain object. */
function countBy(of: (event: LogLine) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const event of events) counts[of(event)] = (counts[of(event)] ?? 0) + 1;
  return counts;
}

describe('kube-audit stats', () => {
  it('counts what the log holds (--json)', async () => {
    const run = await runCli(['stats', '--json', DEMO]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout);
    const times = events
      .flatMap((event) => [event.requestReceivedTimestamp, event.stageTimestamp, event.timestamp])
      .filter((time) => typeof time === 'string')
      .sort((a, b) => Date.parse(a) - Date.parse(b));
    expect(report).toEqual({
      events: events.length,
      invalid: 0,
      timeRange: { first: times[0], last: times.at(-1) },
      verbs: countBy((event) => event.verb),
      users: countBy((event) => event.user?.username ?? '(none)'),
      resources: countBy((event) =>
        event.objectRef
          ? `${event.objectRef.resource}${event.objectRef.subresource ? `/${event.objectRef.subresource}` : ''}`
          : (event.requestURI.split('?')[0] as string),
      ),
      namespaces: countBy((event) =>
        event.objectRef ? (event.objectRef.namespace ?? '(cluster-scoped)') : '(non-resource)',
      ),
      codes: countBy((event) => String(event.responseStatus?.code ?? '(none)')),
      levels: countBy((event) => event.level),
      stages: countBy((event) => event.stage),
    });
    // Most frequent first.
    const verbs = Object.values(report.verbs) as number[];
    expect(verbs).toEqual([...verbs].sort((a, b) => b - a));
  });

  it('prints aligned tables, the top N values per dimension and the rest summed', async () => {
    const run = await runCli(['stats', '--top', '3', DEMO]);
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines.slice(0, 2)).toEqual([`events   ${events.length}`, 'invalid  0']);
    for (const title of ['VERB', 'USER', 'RESOURCE', 'NAMESPACE', 'CODE', 'LEVEL', 'STAGE']) {
      const at = lines.findIndex((line) => new RegExp(`^${title} +EVENTS +SHARE$`).test(line));
      expect(at, title).toBeGreaterThan(0);
      // Rows up to the blank line: counts right-aligned under EVENTS, shares under SHARE.
      const end = lines.indexOf('', at);
      const header = lines[at] as string;
      const eventsEnd = header.indexOf('EVENTS') + 'EVENTS'.length;
      for (const row of lines.slice(at + 1, end)) {
        expect(row).toHaveLength(header.length);
        expect(row.slice(0, eventsEnd)).toMatch(/ \d+$/);
        expect(row.slice(eventsEnd)).toMatch(/^ +\d+\.\d%$/);
      }
      expect(end - at - 1).toBeLessThanOrEqual(4);
    }
    const distinct = new Set(events.map((event) => event.requestURI.split('?')[0])).size;
    expect(distinct).toBeGreaterThan(3);
    expect(run.stdout).toMatch(/^\(\d+ more\) +\d+ +\d+\.\d%$/m);
  });

  it('reads the same inputs as process: stdin, several files, invalid lines reported', async () => {
    const text = readFileSync(DEMO, 'utf8');
    const run = await runCli(['stats', '--json', '-', `${REAL}falco/fal_01_003.json`], { input: text });
    expect(run.stderr).toBe(`${REAL}falco/fal_01_003.json:1: kind must be a string\n`);
    expect(JSON.parse(run.stdout)).toMatchObject({ events: events.length, invalid: 1 });
    expect((await runCli(['stats', '--strict', `${REAL}falco/fal_01_003.json`])).code).toBe(1);
  });
});

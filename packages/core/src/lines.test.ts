import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from './event';
import { type UnwrapOptions, unwrapRecords } from './formats';
import { parseLines } from './lines';
import { serializeEvent } from './serialize';

const event = (fields: Record<string, unknown> = {}) =>
  JSON.stringify({
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: 'a1',
    stage: 'ResponseComplete',
    requestURI: '/api/v1/pods',
    verb: 'list',
    user: { username: 'alice' },
    ...fields,
  });
const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);

/** What each line gives, read alone by unwrapRecords, as the CLI read lines before: events as lines, failures as reasons. */
function perLine(chunk: Uint8Array, options: UnwrapOptions = {}): string[] {
  const out: string[] = [];
  let start = 0;
  let index = 0;
  while (start < chunk.length) {
    let end = chunk.indexOf(10, start);
    const next = end === -1 ? chunk.length : end + 1;
    if (end === -1) end = chunk.length;
    const line = chunk.slice(start, end);
    if (!line.every((c) => c === 32 || c === 9 || c === 13))
      for (const record of unwrapRecords(line, options))
        out.push(record.event ? serializeEvent(record.event) : `${index}: ${record.at} ${record.reason}`);
    start = next;
    index++;
  }
  return out;
}

/** The same from parseLines, with its other lines read alone. */
function together(chunk: Uint8Array, options: UnwrapOptions = {}): string[] {
  const { events, others } = parseLines(chunk, options);
  const out: string[] = [];
  let taken = 0;
  for (const other of others) {
    for (; taken < other.eventsBefore; taken++) out.push(serializeEvent(events[taken] as AuditEvent));
    for (const record of unwrapRecords(chunk.slice(other.start, other.end), options))
      out.push(record.event ? serializeEvent(record.event) : `${other.line}: ${record.at} ${record.reason}`);
  }
  for (; taken < events.length; taken++) out.push(serializeEvent(events[taken] as AuditEvent));
  return out;
}

/** Lines of every kind the CLI meets, the hostile ones included. */
const LINES: readonly (string | Uint8Array)[] = [
  event(),
  event({ auditID: 'a2', annotations: { note: 'é ✓ 😀' } }),
  `${event({ auditID: 'crlf' })}\r`,
  `${event({ auditID: 'trailing' })}  \t`,
  '',
  '   ',
  '\r',
  '{"kind":"Event","apiVersion":"audit.k8s.io/v1" , "level":"Metadata","auditID":"ws","stage":"ResponseComplete","requestURI":"/","verb":"get"}',
  '{"apiVersion":"audit.k8s.io/v1","kind":"Event","level":"Metadata","auditID":"first-key","stage":"ResponseComplete","requestURI":"/","verb":"get"}',
  event({ auditID: 'forwarded', log_type: 'audit' }),
  event({ stage: 'Sideways' }),
  '{"kind":"Event","auditID":"x"}',
  `${event()} x`,
  `${event()}${event({ auditID: 'twice' })}`,
  event().slice(0, -1),
  '{"auditID":"a","a":{}',
  '}',
  ',"verb":"get"}',
  '{"a":[{}',
  ',[{}',
  '{"a":[',
  '{"a":"unterminated}',
  '[1,2]',
  'not json',
  JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [JSON.parse(event({ auditID: 'l' }))] }),
  JSON.stringify({ messageType: 'DATA_MESSAGE', logGroup: 'g', logEvents: [{ id: '1', message: event() }] }),
  Buffer.from(event({ auditID: 'b64' })).toString('base64'),
  new Uint8Array([...bytes('{"kind":"Event","auditID":"'), 0xff, 0xfe, ...bytes('"}')]),
  new Uint8Array([...bytes(event().slice(0, 40)), 0xc3]),
  new Uint8Array([0xe2, 0x82]),
];

function join(lines: readonly (string | Uint8Array)[], finalNewline: boolean): Uint8Array {
  const parts = lines.map((line) => (typeof line === 'string' ? bytes(line) : line));
  const out = new Uint8Array(
    Math.max(0, parts.reduce((sum, part) => sum + part.length + 1, 0) - (finalNewline ? 0 : 1)),
  );
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
    if (at < out.length) out[at++] = 10;
  }
  return out;
}

describe('parseLines', () => {
  it('reads each line of a log as an event, with one member table for all', () => {
    const chunk = bytes(`${event()}\n${event({ auditID: 'a2' })}\n`);
    const { events, others, lines } = parseLines(chunk);
    expect(events.map((e) => e.auditID)).toEqual(['a1', 'a2']);
    expect(others).toEqual([]);
    expect(lines).toBe(2);
    expect(events[0]?.table).toBe(events[1]?.table);
    expect(events[1]?.source).toBe(chunk);
    expect(serializeEvent(events[1] as AuditEvent)).toBe(event({ auditID: 'a2' }));
  });

  it('counts a last line without a newline, and blank lines, and leaves them out', () => {
    expect(parseLines(bytes(`\n  \n\r\n${event()}`))).toMatchObject({ others: [], lines: 4 });
    expect(parseLines(bytes('')).lines).toBe(0);
    expect(parseLines(bytes('\n')).lines).toBe(1);
  });

  it('hands back every other line, where it stands and where its records go', () => {
    const chunk = bytes(`${event()}\nnot json\n\n${event({ auditID: 'a2' })}\r\n[1]\r\n`);
    const { events, others } = parseLines(chunk);
    expect(events.map((e) => e.auditID)).toEqual(['a1', 'a2']);
    expect(others).toEqual([
      { line: 1, start: event().length + 1, end: event().length + 9, eventsBefore: 1 },
      { line: 4, start: chunk.length - 5, end: chunk.length - 1, eventsBefore: 2 },
    ]);
  });

  it('leaves a forwarded event to unwrapRecords, unless the format is kubernetes; other formats read no line', () => {
    const chunk = bytes(event({ log_type: 'audit' }));
    expect(parseLines(chunk).events).toEqual([]);
    expect(parseLines(chunk, { format: 'kubernetes' }).events).toHaveLength(1);
    expect(parseLines(bytes(event()), { format: 'eks' })).toMatchObject({ events: [], others: [{ line: 0 }] });
  });

  it('never reads an object on into the next line', () => {
    for (const text of ['{"auditID":"a","a":{}\n}', `${event().slice(0, -1)}\n}`, `${event().slice(0, -1)}\n,"x":1}`]) {
      const { events, others } = parseLines(bytes(text));
      expect(events).toEqual([]);
      expect(others.map((other) => other.line)).toEqual([0, 1]);
    }
  });

  it('reads a chunk that is a view into a larger buffer', () => {
    const whole = bytes(`xxxx${event()}\n${event({ auditID: 'a2' })}\nyyyy`);
    const chunk = whole.subarray(4, whole.length - 4);
    expect(parseLines(chunk).events.map(serializeEvent)).toEqual([event(), event({ auditID: 'a2' })]);
  });

  it('gives what reading each line alone gives, for any mix of lines', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...LINES), { maxLength: 30 }),
        fc.boolean(),
        fc.constantFrom<UnwrapOptions>(
          {},
          { format: 'kubernetes' },
          { format: 'eks' },
          { defaultApiVersion: 'audit.k8s.io/v1beta1' },
        ),
        (lines, finalNewline, options) => {
          const chunk = join(lines, finalNewline);
          expect(together(chunk, options)).toEqual(perLine(chunk, options));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('scans lines that never close in time linear in their number', () => {
    // Each `{"a":[{}` would be read on through every `,[{}` after it if scans ran past a line.
    // Each `{"a":[` line would be read on through the next 5,000 (to the nesting limit), and
    // each `{"a":[{}` through every `,[{}` after it, if scans ran past lines.
    const text = `${'{"a":[\n'.repeat(20_000)}${`${'{"a":[{}\n'.repeat(2000)}${',[{}\n'.repeat(2000)}`.repeat(5)}`;
    const started = performance.now();
    const { others } = parseLines(bytes(text));
    expect(others).toHaveLength(40_000);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('reads a run of blank lines in time linear in its length', () => {
    const started = performance.now();
    expect(parseLines(bytes(' \r\n\t\n\n'.repeat(100_000))).lines).toBe(300_000);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

import { describe, expect, it } from 'vitest';
import { createLogger, MAX_LOG_STRING } from './logger';

function setup(maxLinesPerSecond = 3) {
  let clock = Date.parse('2026-11-29T12:00:00.000Z');
  const written: string[] = [];
  const logger = createLogger((text) => written.push(text), 'debug', {
    maxLinesPerSecond,
    now: () => new Date(clock),
  });
  return {
    logger,
    tick: (ms: number) => {
      clock += ms;
    },
    lines: () => {
      logger.flush();
      return written.join('').split('\n').filter(Boolean);
    },
  };
}

describe('createLogger', () => {
  it('writes at most maxLinesPerSecond lines a second, then one line counting those left out', () => {
    const { logger, tick, lines } = setup(3);
    for (let i = 0; i < 10; i++) logger.warn('noise', { i });
    tick(1000);
    logger.warn('next second');
    const parsed = lines().map((line) => JSON.parse(line));
    expect(parsed.map((log) => log.msg)).toEqual(['noise', 'noise', 'noise', 'log lines left out', 'next second']);
    expect(parsed[3]).toMatchObject({ level: 'warn', count: 7, maxLinesPerSecond: 3 });
  });

  it('reports the lines left out on flush, when nothing else is logged', () => {
    const { logger, lines } = setup(1);
    logger.error('one');
    logger.error('two');
    expect(lines().map((line) => JSON.parse(line).msg)).toEqual(['one', 'log lines left out']);
  });

  it('keeps each line one JSON object on one line, whatever the strings hold', () => {
    const { logger, lines } = setup();
    logger.warn('bad\n{"level":"error","msg":"forged"}\n', { path: '/a\n{"msg":"forged"}\u001b]0;x\u0007' });
    const out = lines();
    expect(out).toHaveLength(1);
    expect(JSON.parse(out[0] as string)).toMatchObject({ path: '/a\n{"msg":"forged"}\u001b]0;x\u0007' });
    expect([...(out[0] as string)].some((ch) => ch < ' ')).toBe(false);
  });

  it('cuts long strings, at the top level and nested, with a marker', () => {
    const { logger, lines } = setup();
    const long = 'x'.repeat(MAX_LOG_STRING + 500);
    logger.warn(long, { path: long, nested: { list: [long] }, error: new Error(long) });
    const log = JSON.parse(lines()[0] as string);
    const cut = `${'x'.repeat(MAX_LOG_STRING)}…[500 more characters]`;
    expect(log).toMatchObject({ msg: cut, path: cut, nested: { list: [cut] }, error: cut });
  });
});

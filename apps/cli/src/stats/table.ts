/**
 * @module
 * The stats as aligned text: totals and time range, then per dimension the top values with their
 * event counts and share.
 */
import { escapeControl } from '../output';
import { DIMENSIONS } from './dimensions';
import type { Tally } from './tally';

/** Longer values (paths, user names) are cut so that a table stays readable. */
const MAX_VALUE_WIDTH = 64;

/**
 * @example
 * process.stdout.write(renderTable(tally, 10));
 */
export function renderTable(tally: Tally, top: number): string {
  const report = tally.report();
  const lines = [
    `events   ${report.events}`,
    `invalid  ${report.invalid}`,
    `first    ${escapeControl(report.timeRange?.first ?? '-')}`,
    `last     ${escapeControl(report.timeRange?.last ?? '-')}`,
  ];
  for (const dimension of DIMENSIONS) {
    const counts = tally.counts(dimension.key);
    const shown = counts.slice(0, top);
    const rows = shown.map(([value, count]) => [cut(value), String(count), share(count, report.events)]);
    const rest = counts.slice(top);
    if (rest.length > 0) {
      const count = rest.reduce((sum, [, n]) => sum + n, 0);
      rows.push([`(${rest.length} more)`, String(count), share(count, report.events)]);
    }
    lines.push('', ...align([[dimension.title, 'EVENTS', 'SHARE'], ...rows]));
  }
  return `${lines.join('\n')}\n`;
}

/** Left-align the first column, right-align the others, two spaces apart. */
function align(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) =>
    row
      .map((cell, column) => (column === 0 ? cell.padEnd(widths[0] ?? 0) : cell.padStart(widths[column] ?? 0)))
      .join('  '),
  );
}

function share(count: number, total: number): string {
  return total === 0 ? '-' : `${((count / total) * 100).toFixed(1)}%`;
}

/** Values come from the log: a user name can carry terminal escapes, so they are shown escaped. */
function cut(raw: string): string {
  const value = escapeControl(raw);
  return value.length > MAX_VALUE_WIDTH ? `${value.slice(0, MAX_VALUE_WIDTH - 1)}…` : value;
}

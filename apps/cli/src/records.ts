/**
 * @module
 * A line or a document of input as audit events, whatever its format: the API server's own, or a
 * record of an EKS, AKS, GKE or OpenShift export (`unwrapRecords` of the core tells them apart).
 * Opened here, because the core has no runtime APIs: base64 lines (a Kinesis record's data, as
 * AWS's tools print it) and the gzip inside them.
 */
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import type * as Zlib from 'node:zlib';
import { type AuditEvent, LOG_FORMATS, type LogFormat, unwrapRecords } from '@kube-audit/core';
import { MAX_LINE_BYTES } from './lines';
import { UsageError } from './usage-error';

/** Where input that is not an audit event was, and why (never its content). */
export interface InvalidInput {
  /** `FILE:LINE` for JSON lines, `FILE` for a document; then `: PATH` inside the record, e.g. `: logEvents[2].message`. */
  readonly where: string;
  readonly reason: string;
}

/** Events found so far, each with the cluster its envelope named, and the invalid input. */
export interface Found {
  events: AuditEvent[];
  /** `clusters[i]` is the cluster of `events[i]`, or undefined. */
  clusters: (string | undefined)[];
  invalid: InvalidInput[];
}

/** The `--format` flag of the commands that read input. */
export const formatFlag = { format: { type: 'string' } } as const;

/** Its lines in a command's `--help`, the description starting at column `column`. */
export function formatHelp(column: number): string {
  const flag = '  --format NAME'.padEnd(column);
  return `${flag}read every record as NAME: ${LOG_FORMATS.join(', ')}\n${' '.repeat(column)}(default auto: each line or document by its shape)`;
}

/**
 * The `--format` value; `auto` or absent is undefined (detect per line or document).
 *
 * @throws {UsageError} naming the formats.
 */
export function formatOf(value: string | undefined): LogFormat | undefined {
  if (value === undefined || value === 'auto') return undefined;
  const format = LOG_FORMATS.find((name) => name === value);
  if (!format) throw new UsageError(`--format: must be auto, ${LOG_FORMATS.join(', ')} (got ${JSON.stringify(value)})`);
  return format;
}

// node:zlib is required when a base64 line holds gzip, not imported (see ./bytes).
const require = createRequire(import.meta.url);

/** A line of base64 only, long enough not to be a word: what a Kinesis record's data looks like. */
const BASE64 = /^[A-Za-z0-9+/]{16,}={0,2}$/;

/**
 * Add the events of `line` (one log line or one whole document, as text or its bytes) to
 * `found`; what is not an event is added to `found.invalid` with `where` and its place inside the
 * text (after `path`, the place of the text in its document: `events[3]`).
 *
 * @example
 * const found: Found = { events: [], clusters: [], invalid: [] };
 * addRecords(line, 'audit.log:12', undefined, found);
 */
export function addRecords(
  line: string | Uint8Array,
  where: string,
  format: LogFormat | undefined,
  found: Found,
  path = '',
): void {
  // JSON (an event, most often) is read from the bytes as they are; anything else may be base64.
  let text = line;
  if (typeof line !== 'string' && line[0] !== 123) {
    // Decoded only when it is UTF-8: a lossy decode would hide bad bytes behind U+FFFD.
    const bytes = Buffer.from(line.buffer, line.byteOffset, line.length);
    if (!isUtf8(bytes)) {
      found.invalid.push({ where, reason: 'not valid UTF-8' });
      return;
    }
    text = bytes.toString('utf8');
  }
  let input = text;
  if (typeof text === 'string' && BASE64.test(text.trim())) {
    const decoded = decodeBase64(text.trim());
    if (typeof decoded !== 'string') {
      found.invalid.push({ where, reason: decoded.reason });
      return;
    }
    input = decoded;
  }
  for (const record of unwrapRecords(input, format === undefined ? {} : { format })) {
    const inner =
      record.at === '' || path === '' || record.at.startsWith('[') ? path + record.at : `${path}.${record.at}`;
    const at = inner === '' ? where : `${where}: ${inner}`;
    if (record.event) {
      found.events.push(record.event);
      found.clusters.push(record.cluster);
    } else found.invalid.push({ where: at, reason: record.reason });
  }
}

/** The text inside a base64 line: gunzipped when it is gzip (a CloudWatch subscription payload). */
function decodeBase64(text: string): string | { reason: string } {
  const bytes = Buffer.from(text, 'base64');
  // RFC 1952 §2.3.1: ID1 = 0x1f, ID2 = 0x8b.
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      const { gunzipSync } = require('node:zlib') as typeof Zlib;
      return gunzipSync(bytes, { maxOutputLength: MAX_LINE_BYTES }).toString('utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ERR_BUFFER_TOO_LARGE')
        return { reason: `base64 gzip data larger than ${MAX_LINE_BYTES} bytes once gunzipped` };
      return { reason: 'base64 data that is not valid gzip' };
    }
  }
  const decoded = bytes.toString('utf8');
  return /^\s*[[{]/.test(decoded) ? decoded : { reason: 'base64 data that is neither gzip nor JSON' };
}

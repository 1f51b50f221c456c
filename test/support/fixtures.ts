/**
 * The real audit events in fixtures/real, for tests: each file's events as parsed JSON (the
 * Falco traces and audit2rbac's demo logs are JSON lines), and a webhook EventList made of them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
export const REAL = `${FIXTURES}real/`;
/** Falco's regression fixture for a malformed event (`{"kind": 0}`). */
export const MALFORMED = 'falco/fal_01_003.json';

export interface FixtureFile {
  name: string;
  /** The non-empty lines, as text (what an audit log file holds). */
  lines: string[];
  events: Record<string, unknown>[];
}

export function realFixtureFiles(): FixtureFile[] {
  const names = [
    ...readdirSync(`${REAL}falco`).map((f) => `falco/${f}`),
    'audit2rbac/demo.log',
    'audit2rbac/demo.v1beta1-2017.log',
  ].filter((name) => name !== MALFORMED);
  return names.map((name) => {
    const lines = readFileSync(`${REAL}${name}`, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '');
    return { name, lines, events: lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
  });
}

/** Events as the webhook sends them: items without kind/apiVersion inside an EventList. */
export function asWebhookBody(events: Record<string, unknown>[], apiVersion = 'audit.k8s.io/v1'): string {
  const items = events.map(({ kind: _kind, apiVersion: _apiVersion, ...rest }) => rest);
  return JSON.stringify({ kind: 'EventList', apiVersion, metadata: {}, items });
}

/** What a line must equal: the event with kind/apiVersion first (its own apiVersion, else the list's). */
export function expectedLine(
  event: Record<string, unknown>,
  listApiVersion = 'audit.k8s.io/v1',
): Record<string, unknown> {
  const { kind: _kind, apiVersion, ...rest } = event;
  return { kind: 'Event', apiVersion: (apiVersion as string | undefined) ?? listApiVersion, ...rest };
}

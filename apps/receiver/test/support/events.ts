/**
 * Webhook bodies for process tests: EventLists of small, valid Metadata events with auditIDs
 * the test can count on stdout.
 */

export function auditEvent(auditID: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    level: 'Metadata',
    auditID,
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/default/pods?limit=500',
    verb: 'list',
    user: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:authenticated'] },
    sourceIPs: ['10.0.0.1'],
    objectRef: { resource: 'pods', namespace: 'default', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: '2026-11-27T05:00:00.000000Z',
    stageTimestamp: '2026-11-27T05:00:00.001000Z',
    ...extra,
  };
}

/** An EventList as the API server posts it, of `items` (events or anything else). */
export function eventList(items: unknown[]): string {
  return JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items });
}

/** An EventList of `n` events with auditIDs `${prefix}-0` … */
export function batch(n: number, prefix: string): string {
  return eventList(Array.from({ length: n }, (_, i) => auditEvent(`${prefix}-${i}`)));
}

/** The auditIDs of the lines written. */
export function auditIds(lines: readonly string[]): string[] {
  return lines.map((line) => (JSON.parse(line) as { auditID: string }).auditID);
}

/**
 * @module
 * What `kube-audit stats` counts events by: who (the authenticated user), did what (verb), to
 * what (resource and namespace), with what result (response code), recorded how (level, stage).
 */
import type { AuditEvent } from '@kube-audit/core';

export interface Dimension {
  /** Key in the JSON output. */
  readonly key: string;
  /** Column title in the table. */
  readonly title: string;
  readonly of: (event: AuditEvent) => string;
}

/** Where a field is absent. */
export const NONE = '(none)';

interface ObjectRef {
  resource?: unknown;
  subresource?: unknown;
  namespace?: unknown;
}

function objectRefOf(event: AuditEvent): ObjectRef | undefined {
  const ref = event.get('objectRef');
  return ref !== null && typeof ref === 'object' ? (ref as ObjectRef) : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** In the order the table shows them. */
export const DIMENSIONS: readonly Dimension[] = [
  { key: 'verbs', title: 'VERB', of: (event) => event.verb },
  {
    key: 'users',
    title: 'USER',
    // `user` is the authenticated user; with impersonation the impersonator (reference §1).
    of: (event) => text((event.get('user') as { username?: unknown } | null)?.username) ?? NONE,
  },
  {
    key: 'resources',
    title: 'RESOURCE',
    of: (event) => {
      const ref = objectRefOf(event);
      // Non-resource requests (/healthz, /apis) have no objectRef: count them by path.
      if (!ref) return event.requestURI.split('?', 1)[0] ?? event.requestURI;
      const resource = text(ref.resource) ?? NONE;
      const subresource = text(ref.subresource);
      return subresource ? `${resource}/${subresource}` : resource;
    },
  },
  {
    key: 'namespaces',
    title: 'NAMESPACE',
    of: (event) => {
      const ref = objectRefOf(event);
      if (!ref) return '(non-resource)';
      return text(ref.namespace) ?? '(cluster-scoped)';
    },
  },
  {
    key: 'codes',
    title: 'CODE',
    of: (event) => {
      const code = (event.get('responseStatus') as { code?: unknown } | null)?.code;
      return typeof code === 'number' ? String(code) : NONE;
    },
  },
  { key: 'levels', title: 'LEVEL', of: (event) => event.level },
  { key: 'stages', title: 'STAGE', of: (event) => event.stage },
];

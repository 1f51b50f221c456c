/** The example Policies the README points to do what the README says. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createPolicyChecker, parsePolicy, policyRequestOf } from '../packages/core/src/index';

const load = (name: string) => {
  const file = new URL(`../docs/examples/policies/${name}`, import.meta.url);
  const { policy, warnings } = parsePolicy(readFileSync(file, 'utf8'), { source: name });
  expect(warnings).toEqual([]);
  return createPolicyChecker(policy);
};
const event = (verb: string, objectRef?: Record<string, string>, requestURI = '/api', groups: string[] = []) =>
  policyRequestOf({ verb, objectRef, requestURI, user: { username: 'u', groups } });

describe('docs/examples/policies', () => {
  it('drop-noise.yaml drops leases, health checks, events and node reads, and keeps the rest', () => {
    const check = load('drop-noise.yaml');
    expect(check(event('update', { resource: 'leases', apiGroup: 'coordination.k8s.io' })).level).toBe('None');
    expect(check(event('get', undefined, '/readyz?verbose')).level).toBe('None');
    expect(check(event('create', { resource: 'events' })).level).toBe('None');
    expect(check(event('list', { resource: 'pods' }, '/api/v1/pods', ['system:nodes'])).level).toBe('None');
    expect(check(event('delete', { resource: 'pods', namespace: 'default' })).level).toBe('RequestResponse');
  });

  it('writes-only.yaml keeps writes, drops reads, and keeps Secret writes at Metadata', () => {
    const check = load('writes-only.yaml');
    expect(check(event('get', { resource: 'pods' })).level).toBe('None');
    expect(check(event('watch', { resource: 'configmaps' })).level).toBe('None');
    expect(check(event('patch', { resource: 'deployments', apiGroup: 'apps' })).level).toBe('RequestResponse');
    expect(check(event('update', { resource: 'secrets' })).level).toBe('Metadata');
    expect(check(event('patch', { resource: 'deployments', apiGroup: 'apps' })).omitStages.has('RequestReceived')).toBe(
      true,
    );
  });
});

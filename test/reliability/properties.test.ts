/**
 * Property-based: arbitrary valid events with arbitrary JSON bodies come out equal field for
 * field; random mutations of the real fixtures never crash the receiver and always get a
 * documented status.
 */

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, Event, parsePayload } from '../../packages/core/src/index';
import { asWebhookBody, realFixtureFiles } from '../support/fixtures';
import { postAudit, type ReceiverProcess, startReceiver } from '../support/receiver';

const levels = ['Metadata', 'Request', 'RequestResponse'] as const;
const stages = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const;
const knownKeys = new Set(Object.keys(Event.shape));

const arbitraryEvent = fc.record({
  level: fc.constantFrom(...levels),
  auditID: fc.string({ minLength: 1 }),
  stage: fc.constantFrom(...stages),
  requestURI: fc.string(),
  verb: fc.string(),
  user: fc.record({ username: fc.string(), groups: fc.array(fc.string()) }, { requiredKeys: [] }),
  requestObject: fc.jsonValue(),
  responseObject: fc.jsonValue(),
  annotations: fc.dictionary(fc.string(), fc.string()),
  extra: fc.dictionary(
    fc.string().filter((key) => !knownKeys.has(key)),
    fc.jsonValue(),
  ),
});

describe('any valid event', () => {
  it('comes out field for field, with kind and apiVersion first', () => {
    const pipeline = createPipeline({ dedupeCacheSize: 0, maxEventBytes: 0 });
    fc.assert(
      fc.property(fc.array(arbitraryEvent, { minLength: 1, maxLength: 5 }), (generated) => {
        const events = generated.map(({ extra, ...event }) => ({ ...event, ...extra }));
        const body = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: events });
        const result = pipeline.process(parsePayload(body));
        const lines = result.lines.split('\n').slice(0, -1);
        expect(lines).toHaveLength(events.length);
        lines.forEach((line, i) => {
          const parsed = JSON.parse(line);
          // No objectRef: nothing is a Secret, so no step applies and the event is untouched.
          expect(parsed).toStrictEqual(
            JSON.parse(JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...events[i] })),
          );
          expect(line.startsWith('{"kind":"Event","apiVersion":"audit.k8s.io/v1",')).toBe(true);
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe('mutated real fixtures against the running receiver', () => {
  let receiver: ReceiverProcess;
  beforeAll(async () => {
    receiver = await startReceiver({ env: { DEDUPE_CACHE_SIZE: '0' } });
  });
  afterAll(async () => {
    expect(receiver.child.exitCode).toBeNull();
    expect(await receiver.stop()).toBe(0);
  });

  const bodies = realFixtureFiles().map((file) => asWebhookBody(file.events));
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 50 }) }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      text: fc.string({ unit: 'binary', maxLength: 8 }),
    }),
    fc.record({
      kind: fc.constant('replace' as const),
      at: fc.nat(),
      text: fc.constantFrom('"', '{', '}', '[', ']', ',', ':', '\\', '0', 'null', '\u0000', 'é'),
    }),
    fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 200 }) }),
  );

  it('never crash it, and always get 200 (with its lines written) or 400', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (pick, mutations) => {
        let body = bodies[pick % bodies.length] as string;
        for (const m of mutations) {
          const at = m.at % (body.length + 1);
          if (m.kind === 'delete') body = body.slice(0, at) + body.slice(at + m.length);
          else if (m.kind === 'insert') body = body.slice(0, at) + m.text + body.slice(at);
          else if (m.kind === 'replace') body = body.slice(0, at) + m.text + body.slice(at + 1);
          else body = body.slice(0, at + m.length) + body.slice(at, at + m.length) + body.slice(at + m.length);
        }
        const before = receiver.lines.length;
        const response = await postAudit(`${receiver.url}/audit`, body);
        const answer = (await response.json()) as { written?: number; error?: string };
        expect([200, 400]).toContain(response.status);
        if (response.status === 200) {
          await receiver.waitFor(() => receiver.lines.length >= before + (answer.written ?? 0));
          for (const line of receiver.lines.slice(before)) expect(() => JSON.parse(line)).not.toThrow();
        } else expect(typeof answer.error).toBe('string');
      }),
      { numRuns: 400 },
    );
    expect((await fetch(`${receiver.url}/healthz`)).status).toBe(200);
  }, 60_000);
});

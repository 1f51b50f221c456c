/**
 * A large body on Node, with the built receiver as a real process on Node 24 (the image's
 * runtime): the socket's reads of it are garbage once copied into the body's array, and are
 * collected while it arrives, not held beside it until V8's next collection. Counted with the
 * process metrics of /metrics (`nodejs_gc_duration_seconds_count{kind="minor"}`).
 */
import { execFileSync } from 'node:child_process';
import { afterEach, expect, it } from 'vitest';
import { postAudit, RECEIVER_DIST, type ReceiverProcess, startReceiver } from '../../../test/support/receiver';
import { auditEvent, eventList } from './support/events';
import { parsePrometheusText, sampleValue } from './support/prometheus-text';

const BODY_BYTES = 20 * 1024 * 1024;

function nodeMajor(binary: string): number {
  return Number(/^v(\d+)/.exec(execFileSync(binary, ['--version'], { encoding: 'utf8' }))?.[1] ?? 0);
}
const node24 = process.env.NODE24 ?? (nodeMajor(process.execPath) >= 24 ? process.execPath : undefined);
if (process.env.CI && !node24) throw new Error('CI needs $NODE24');

let receiver: ReceiverProcess | undefined;
afterEach(async () => {
  await receiver?.stop();
  receiver = undefined;
});

async function minorCollections(r: ReceiverProcess): Promise<number> {
  const metrics = parsePrometheusText(await (await fetch(`${r.url}/metrics`)).text());
  // The series appears with the first collection.
  const samples = metrics.get('nodejs_gc_duration_seconds')?.samples ?? [];
  return samples.some((s) => s.name === 'nodejs_gc_duration_seconds_count' && s.labels.kind === 'minor')
    ? sampleValue(metrics, 'nodejs_gc_duration_seconds_count', { kind: 'minor' })
    : 0;
}

it.skipIf(!node24)('collects the socket’s reads of a large body while it arrives (Node 24)', async () => {
  // Eight events of 2.5 MiB, redaction off: parsing and writing them allocate next to nothing on
  // the heap, so only the reader's collections are counted.
  receiver = await startReceiver({
    command: [node24 as string, `${RECEIVER_DIST}node.js`],
    env: { MAX_EVENT_BYTES: '0', REDACT: 'off' },
  });
  const filler = 'x'.repeat(BODY_BYTES / 8);
  const body = eventList(
    Array.from({ length: 8 }, (_, i) => auditEvent(`large-${i}`, { level: 'Request', requestObject: { filler } })),
  );
  const before = await minorCollections(receiver);
  expect((await postAudit(receiver.url, body)).status).toBe(200);
  expect(receiver.lines).toHaveLength(8);
  // One each time another 4 MiB has been read: four in the 20 MiB (none without them). The
  // process metrics learn of a collection a little after it, so they are read until they have.
  let collections = 0;
  for (let waited = 0; waited < 3000 && collections < 4; waited += 100) {
    collections = (await minorCollections(receiver)) - before;
    if (collections < 4) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(collections).toBeGreaterThanOrEqual(4);
});

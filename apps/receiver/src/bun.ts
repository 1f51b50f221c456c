/** Bun entry: `bun apps/receiver/src/bun.ts`. */
import { bunRuntime } from './bun-runtime';
import { startReceiver } from './server';

await startReceiver(bunRuntime);

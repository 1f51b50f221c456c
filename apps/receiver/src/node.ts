/** Node entry: `node dist/node.js`. */
import { nodeRuntime } from './node-runtime';
import { startReceiver } from './server';

await startReceiver(nodeRuntime);

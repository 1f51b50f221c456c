// The floor: the least a Node receiver can do. Read the body, JSON.parse it, JSON.stringify each
// item, write the lines in one go, answer once the write has completed. No validation, no
// pipeline, no framework: what the runtime itself costs.
import { serveBodies } from './bare-server.mjs';

serveBodies((body) => {
  let list;
  try {
    list = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  let out = '';
  for (const item of list.items) out += `${JSON.stringify(item)}\n`;
  return out;
});

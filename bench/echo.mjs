// The echo limit: read the body and write it to stdout untouched, answering once the write has
// completed. No parsing at all, so no correct receiver can be faster: the room between the floor
// and this line is the per-event work, not HTTP or the write.
import { serveBodies } from './bare-server.mjs';

serveBodies((body) => Buffer.concat([body, Buffer.from('\n')]));

/**
 * A control-plane replica for nats-bus.test.ts to kill: connects to NATS at argv[2] in namespace
 * argv[3], consumes 'held' on 'held.>' two at a time with handlers that never finish, and prints
 * "got <n>" for each message it takes. The test SIGKILLs it: no drain, no close, as a crash.
 */
import { NatsBus } from '../nats-bus.js';

const [servers, namespace] = process.argv.slice(2);
const bus = await NatsBus.connect({ servers: servers!, namespace: namespace!, name: 'replica-child' });
await bus.durableConsume(
  'held',
  'held.>',
  async (m) => {
    console.log(`got ${m.json<{ n: number }>().n}`);
    await new Promise(() => undefined);
  },
  { ackWaitMs: 1_000, concurrency: 2 },
);
console.log('ready');

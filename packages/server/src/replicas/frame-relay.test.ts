import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Bus, BusMessage } from '../bus/bus.js';
import { subjects } from '../bus/subjects.js';
import { type Backend, BACKENDS, eventually, openBackend, recordingLog } from './__tests__/replica-test-kit.js';
import { FrameRelay } from './frame-relay.js';

const NODE = 'did:key:z6MkRelayed';

describe.each(BACKENDS)('FrameRelay over the %s bus', (kind) => {
  let backend: Backend;
  let busA: Bus;
  let busB: Bus;
  let a: FrameRelay;
  let b: FrameRelay;
  /** What a's sessions were handed; whether a holds the node decides what deliver says. */
  let delivered: Array<[string, string]>;
  let holds: boolean;

  beforeEach(async () => {
    backend = await openBackend(kind);
    busA = await backend.open();
    busB = await backend.open();
    delivered = [];
    holds = true;
    a = new FrameRelay({ bus: busA, replica: 'replica-a', log: recordingLog() });
    b = new FrameRelay({ bus: busB, replica: 'replica-b', log: recordingLog() });
    await a.start((nodeId, text) => {
      delivered.push([nodeId, text]);
      return holds;
    });
    await b.start(() => {
      throw new Error('nothing is sent to b in these tests');
    });
  });

  afterEach(async () => {
    a.stop();
    b.stop();
    await backend.cleanup();
  });

  /** A probe on a's subject; the function it returns waits until it heard something: what a would get, it got by then. */
  async function probeA(): Promise<() => Promise<void>> {
    const heard: BusMessage[] = [];
    const unsubscribe = await busB.subscribe(subjects.replicaFrames('replica-a'), (m) => heard.push(m));
    return async () => {
      await eventually(() => heard.length > 0);
      unsubscribe();
    };
  }

  it('hands a frame sent to a replica to that replica, and counts it relayed', async () => {
    const frame = JSON.stringify({ t: 'run', body: { runId: 'r1' } });
    b.send('replica-a', NODE, frame);
    await eventually(() => a.relayed === 1);
    expect(delivered).toEqual([[NODE, frame]]);
    expect(a.dropped).toBe(0);
    expect(b.relayed + b.dropped).toBe(0);
  });

  it('counts a frame dropped when the node is no longer held there', async () => {
    holds = false;
    b.send('replica-a', NODE, 'late');
    await eventually(() => a.dropped === 1);
    expect(a.relayed).toBe(0);
    expect(delivered).toEqual([[NODE, 'late']]);
  });

  it('ignores messages on its subject that are not frames', async () => {
    const subject = subjects.replicaFrames('replica-a');
    busB.publish(subject, { nodeId: NODE });
    busB.publish(subject, { text: 'no node' });
    busB.publish(subject, { nodeId: 7, text: 'x' });
    busB.publish(subject, { nodeId: NODE, text: { not: 'text' } });
    busB.publish(subject, [NODE, 'text']);
    busB.publish(subject, new TextEncoder().encode('not json'));
    // Sent after the garbage on the same connection: once it arrives, the garbage has.
    b.send('replica-a', NODE, 'real');
    await eventually(() => a.relayed === 1);
    expect(delivered).toEqual([[NODE, 'real']]);
    expect(a.dropped).toBe(0);
  });

  it('takes no frames once stopped', async () => {
    a.stop();
    const heard = await probeA();
    b.send('replica-a', NODE, 'after stop');
    await heard();
    expect(delivered).toEqual([]);
    expect(a.relayed + a.dropped).toBe(0);
  });

  it('a send on a closed bus is logged, not thrown', async () => {
    const log = recordingLog();
    const closed = await backend.open();
    const relay = new FrameRelay({ bus: closed, replica: 'replica-c', log });
    await closed.close();
    expect(() => relay.send('replica-a', NODE, 'x')).not.toThrow();
    expect(log.messages()).toEqual(['could not relay a frame to the replica holding the session']);
  });
});

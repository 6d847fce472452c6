import { beforeEach, describe, expect, it } from 'vitest';
import type { Bus, BusMessage, DurableMessage } from '../bus.js';
import { type ContractState, eventually, seen } from './bus-contract-kit.js';

/** The Bus contract, core pub/sub: at most once, wildcards, core and durable kept apart. */
export function describeCorePubSub(state: ContractState): void {
  describe('core pub/sub', () => {
    let a: Bus;
    let b: Bus;
    beforeEach(() => {
      ({ a, b } = state);
    });

    it('delivers to exact and wildcard subscribers on another replica, with the subject and a copy of the data', async () => {
      const exact: BusMessage[] = [];
      const star: BusMessage[] = [];
      const tail: BusMessage[] = [];
      await a.subscribe('node.n1.metrics', (m) => exact.push(m));
      await a.subscribe('node.*.metrics', (m) => star.push(m));
      await a.subscribe('node.>', (m) => tail.push(m));

      const bytes = new Uint8Array([1, 2, 3]);
      b.publish('node.n1.metrics', { gpu: 0, util: 0.5 });
      b.publish('node.n2.metrics', bytes);
      bytes[0] = 99; // after publish: receivers must not see this
      b.publish('node.n1.x.metrics', { deep: true });
      b.publish('node', { bare: true });
      b.publish('other.n1.metrics', { other: true });
      b.publish('node.fence', { fence: true });
      await eventually(() => tail.some((m) => m.subject === 'node.fence'));

      expect(seen(exact)).toEqual(['node.n1.metrics={"gpu":0,"util":0.5}']);
      expect(star.map((m) => m.subject)).toEqual(['node.n1.metrics', 'node.n2.metrics']);
      expect([...star[1]!.data]).toEqual([1, 2, 3]);
      expect(tail.map((m) => m.subject)).toEqual(['node.n1.metrics', 'node.n2.metrics', 'node.n1.x.metrics', 'node.fence']);
    });

    it('unsubscribe stops one subscription, the others go on', async () => {
      const kept: BusMessage[] = [];
      const dropped: BusMessage[] = [];
      await a.subscribe('jobs.*', (m) => kept.push(m));
      const unsubscribe = await a.subscribe('jobs.*', (m) => dropped.push(m));
      b.publish('jobs.one', { n: 1 });
      await eventually(() => kept.length === 1 && dropped.length === 1);
      unsubscribe();
      unsubscribe(); // twice is harmless
      b.publish('jobs.two', { n: 2 });
      await eventually(() => kept.length === 2);
      expect(seen(dropped)).toEqual(['jobs.one={"n":1}']);
    });

    it('a subscriber that throws keeps its subscription and does not stop the others', async () => {
      const thrower: number[] = [];
      const other: number[] = [];
      await a.subscribe('t.x', (m) => {
        thrower.push(m.json<{ n: number }>().n);
        throw new Error('handler bug');
      });
      await a.subscribe('t.x', (m) => other.push(m.json<{ n: number }>().n));
      b.publish('t.x', { n: 1 });
      b.publish('t.x', { n: 2 });
      await eventually(() => thrower.length === 2 && other.length === 2);
      expect(thrower).toEqual([1, 2]);
      expect(other).toEqual([1, 2]);
    });

    it('keeps core and durable subjects apart', async () => {
      const core: BusMessage[] = [];
      const durable: DurableMessage[] = [];
      await a.subscribe('jobs.>', (m) => core.push(m));
      await a.durableConsume('apart', 'jobs.>', async (m) => {
        durable.push(m);
      });
      b.publish('jobs.core', { via: 'core' });
      await b.durablePublish('jobs.durable', { via: 'durable' }, 'apart-1');
      b.publish('jobs.fence', { via: 'core' });
      await b.durablePublish('jobs.fence', { via: 'durable' }, 'apart-2');
      await eventually(() => core.length === 2 && durable.length === 2);
      expect(seen(core)).toEqual(['jobs.core={"via":"core"}', 'jobs.fence={"via":"core"}']);
      expect(seen(durable)).toEqual(['jobs.durable={"via":"durable"}', 'jobs.fence={"via":"durable"}']);
    });
  });
}

import { beforeEach, describe, expect, it } from 'vitest';
import type { Bus, DurableMessage } from '../bus.js';
import { type BusFixture, type ContractState, eventually, expectFleetError, gate, sleep } from './bus-contract-kit.js';

/** The Bus contract, durable streams: dedupe, ack after the handler, redelivery, one delivery per consumer name. */
export function describeDurableStreams(state: ContractState): void {
  describe('durable streams', () => {
    let fixture: BusFixture;
    let a: Bus;
    let b: Bus;
    beforeEach(() => {
      ({ fixture, a, b } = state);
    });

    it('stores a msgId once within the dedupe window and says so', async () => {
      const first = await a.durablePublish('runs.n1', { attempt: 1 }, 'run-7/n1');
      const again = await b.durablePublish('runs.n1', { attempt: 2 }, 'run-7/n1');
      const other = await a.durablePublish('runs.n1', { attempt: 3 }, 'run-8/n1');
      expect(first.duplicate).toBe(false);
      expect(again).toEqual({ seq: first.seq, duplicate: true });
      expect(other.duplicate).toBe(false);
      expect(other.seq).toBeGreaterThan(first.seq);

      const got: DurableMessage[] = [];
      await a.durableConsume('dedupe', 'runs.>', async (m) => {
        got.push(m);
      });
      await eventually(() => got.length >= 2);
      await sleep(50); // a third would be a stored duplicate; give it a moment to show
      expect(got.map((m) => [m.subject, m.json(), m.msgId, m.seq, m.deliveryCount])).toEqual([
        ['runs.n1', { attempt: 1 }, 'run-7/n1', first.seq, 1],
        ['runs.n1', { attempt: 3 }, 'run-8/n1', other.seq, 1],
      ]);
    });

    it('keeps a message its handler holds, past the ack wait too, and acks it once the handler resolves', async () => {
      const slow = gate();
      const onA: number[] = [];
      const onB: number[] = [];
      const handler = (into: number[]) => async (m: DurableMessage) => {
        const n = m.json<{ n: number }>().n;
        into.push(n);
        if (n === 1) await slow.wait;
      };
      await a.durableConsume('ack', 'work.>', handler(onA), { ackWaitMs: 1_000 });
      await b.durablePublish('work.x', { n: 1 }, 'ack-1');
      await eventually(() => onA.length === 1);
      // A second instance on another replica gets the next message, never the held one, even
      // once the ack wait has passed while the handler runs.
      await b.durableConsume('ack', 'work.>', handler(onB), { ackWaitMs: 1_000 });
      await b.durablePublish('work.x', { n: 2 }, 'ack-2');
      await eventually(() => onB.includes(2));
      await sleep(1_500);
      expect([...onA, ...onB].sort()).toEqual([1, 2]);
      slow.open();
      // Longer than the ack wait: had the resolved handler's message not been acked, it would be back.
      await sleep(1_300);
      expect([...onA, ...onB].sort()).toEqual([1, 2]);
    });

    it('delivers again, after the retry delay, a message whose handler threw', async () => {
      const deliveries: Array<{ n: number; count: number; at: number }> = [];
      await a.durableConsume(
        'retry',
        'retry.*',
        async (m) => {
          deliveries.push({ n: m.json<{ n: number }>().n, count: m.deliveryCount, at: Date.now() });
          if (m.deliveryCount === 1 && m.json<{ n: number }>().n === 1) throw new Error('transient');
        },
        { retryDelayMs: 300 },
      );
      await b.durablePublish('retry.x', { n: 1 }, 'retry-1');
      await eventually(() => deliveries.filter((d) => d.n === 1).length === 2);
      await b.durablePublish('retry.x', { n: 2 }, 'retry-2');
      await eventually(() => deliveries.some((d) => d.n === 2));
      await sleep(50);
      const ones = deliveries.filter((d) => d.n === 1);
      expect(ones.map((d) => d.count)).toEqual([1, 2]);
      expect(ones[1]!.at - ones[0]!.at).toBeGreaterThanOrEqual(250);
      expect(deliveries.filter((d) => d.n === 2).map((d) => d.count)).toEqual([1]);
    });

    it('a consumer stopped and started again continues where it stopped; a new name gets what was stored before it', async () => {
      for (const n of [1, 2, 3]) await b.durablePublish('seq.x', { n }, `seq-${n}`);
      await b.durablePublish('early.x', { n: 0 }, 'early-0');
      const firstRun: number[] = [];
      const c1 = await a.durableConsume('resume', 'seq.>', async (m) => {
        firstRun.push(m.json<{ n: number }>().n);
      });
      await eventually(() => firstRun.length === 3);
      await c1.stop();
      await c1.stop(); // twice is harmless
      for (const n of [4, 5]) await b.durablePublish('seq.x', { n }, `seq-${n}`);
      await sleep(50); // stopped: nothing may arrive
      expect(firstRun).toEqual([1, 2, 3]);

      const secondRun: number[] = [];
      await b.durableConsume('resume', 'seq.>', async (m) => {
        secondRun.push(m.json<{ n: number }>().n);
      });
      await eventually(() => secondRun.length === 2);
      // A name first used now still gets what was published before (which no name had taken).
      const fresh: number[] = [];
      await a.durableConsume('resume-new', 'early.>', async (m) => {
        fresh.push(m.json<{ n: number }>().n);
      });
      await eventually(() => fresh.length === 1);
      await sleep(50);
      expect(secondRun).toEqual([4, 5]);
      expect(fresh).toEqual([0]);
    });

    it('gives each message to one instance of a name across replicas, and to every name', async () => {
      const byBus = { a: [] as number[], b: [] as number[] };
      const audit: number[] = [];
      const worker = (into: number[]) => async (m: DurableMessage) => {
        into.push(m.json<{ n: number }>().n);
        await sleep(15);
      };
      await a.durableConsume('workers', 'q.>', worker(byBus.a));
      await b.durableConsume('workers', 'q.>', worker(byBus.b));
      await a.durableConsume('audit', 'q.>', async (m) => {
        audit.push(m.json<{ n: number }>().n);
      });
      const all = Array.from({ length: 20 }, (_, i) => i + 1);
      await Promise.all(all.map((n) => b.durablePublish(`q.${n % 3}`, { n }, `q-${n}`)));
      await eventually(() => byBus.a.length + byBus.b.length === 20 && audit.length === 20);
      await sleep(50);
      expect([...byBus.a, ...byBus.b].sort((x, y) => x - y)).toEqual(all);
      expect(byBus.a.length).toBeGreaterThan(0);
      expect(byBus.b.length).toBeGreaterThan(0);
      expect([...audit].sort((x, y) => x - y)).toEqual(all);
    });

    it('runs up to `concurrency` handlers at once in one instance', async () => {
      const release = gate();
      let running = 0;
      let most = 0;
      const done: number[] = [];
      await a.durableConsume(
        'parallel',
        'par.*',
        async (m) => {
          running++;
          most = Math.max(most, running);
          await release.wait;
          running--;
          done.push(m.json<{ n: number }>().n);
        },
        { concurrency: 3 },
      );
      for (const n of [1, 2, 3, 4, 5]) await b.durablePublish('par.x', { n }, `par-${n}`);
      await eventually(() => running === 3);
      await sleep(50);
      expect(running).toBe(3);
      release.open();
      await eventually(() => done.length === 5);
      expect(most).toBe(3);
    });

    it('a replica that dies holding a message: another replica gets it after the ack wait', async () => {
      const dying = await fixture.open({ drainTimeoutMs: 50 });
      const stuck = gate();
      const held: DurableMessage[] = [];
      await dying.durableConsume(
        'handover',
        'ho.*',
        async (m) => {
          held.push(m);
          await stuck.wait;
        },
        { ackWaitMs: 1_000 },
      );
      await b.durablePublish('ho.x', { n: 1 }, 'ho-1');
      await eventually(() => held.length === 1);
      const taken: DurableMessage[] = [];
      await b.durableConsume(
        'handover',
        'ho.*',
        async (m) => {
          taken.push(m);
        },
        { ackWaitMs: 1_000 },
      );
      await sleep(100);
      expect(taken).toEqual([]); // still held by a live replica
      const closedAt = Date.now();
      await dying.close(); // gives up on the stuck handler after 50 ms
      await eventually(() => taken.length === 1, 4_000);
      expect(Date.now() - closedAt).toBeLessThan(3_000);
      expect(taken[0]!.json()).toEqual({ n: 1 });
      expect(taken[0]!.deliveryCount).toBeGreaterThanOrEqual(2);
      stuck.open();
    });

    it('refuses bad message ids, consumer names, filters and options', async () => {
      await expectFleetError(() => a.durablePublish('d.x', {}, ''), 'invalid_argument');
      await expectFleetError(() => a.durablePublish('d.x', {}, 'has space'), 'invalid_argument');
      await expectFleetError(() => a.durablePublish('d.x', {}, 'x'.repeat(129)), 'invalid_argument');
      await expectFleetError(() => a.durablePublish('d.*', {}, 'ok'), 'invalid_argument');
      const noop = async () => undefined;
      await expectFleetError(() => a.durableConsume('has.dot', 'd.>', noop), 'invalid_argument');
      await expectFleetError(() => a.durableConsume('', 'd.>', noop), 'invalid_argument');
      await expectFleetError(() => a.durableConsume('ok', 'd.>.x', noop), 'invalid_argument');
      await expectFleetError(() => a.durableConsume('ok', 'd.>', noop, { ackWait: 5 } as never), 'invalid_argument');
      await expectFleetError(() => a.durableConsume('ok', 'd.>', noop, { ackWaitMs: 10 }), 'invalid_argument');
      await expectFleetError(() => a.durableConsume('ok', 'd.>', noop, { concurrency: 0 }), 'invalid_argument');
    });
  });
}

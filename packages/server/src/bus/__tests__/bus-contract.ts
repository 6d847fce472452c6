import { FleetError, type ErrorCode } from '@gpufleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bus, type BusMessage, DEFAULT_MAX_PAYLOAD_BYTES, type DurableMessage, type KvChange } from '../bus.js';

/**
 * The one contract every Bus implementation passes (DESIGN.md §8.6). Each test gets a fresh
 * backend; buses opened on it stand for replicas of one control plane.
 */
export interface BusFixture {
  /** Another bus on this test's backend: each call stands for another replica. */
  open(options?: { drainTimeoutMs?: number }): Promise<Bus>;
  /** Lets time pass for TTLs: a test clock moves at once, a real server needs real waiting. */
  elapse(ms: number): Promise<void>;
  /** The KV TTL the expiry test uses: as short as the implementation judges reliably. */
  ttlMs: number;
  /** Closes the buses and removes what the test left on the backend. */
  cleanup(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until check passes (returns truthy without throwing), or fails with its last error. */
async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let failure: unknown;
    try {
      const value = await check();
      if (value) return value;
      failure = new Error(`still ${String(value)} after ${timeoutMs} ms`);
    } catch (err) {
      failure = err;
    }
    if (Date.now() > deadline) throw failure;
    await sleep(10);
  }
}

/** Expects work (a call, sync or async) to fail with a FleetError of the code. */
async function expectFleetError(work: () => unknown, code: ErrorCode): Promise<FleetError> {
  let err: unknown;
  try {
    await work();
  } catch (e) {
    err = e;
  }
  expect(err, `expected FleetError '${code}'`).toBeInstanceOf(FleetError);
  expect((err as FleetError).code).toBe(code);
  return err as FleetError;
}

/** A gate a handler waits on until the test opens it. */
function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

const seen = (msgs: BusMessage[]) => msgs.map((m) => `${m.subject}=${JSON.stringify(m.json())}`);

export function describeBusContract(name: string, makeFixture: () => Promise<BusFixture>): void {
  describe(`Bus contract: ${name}`, () => {
    let fixture: BusFixture;
    let a: Bus;
    let b: Bus;

    beforeEach(async () => {
      fixture = await makeFixture();
      a = await fixture.open();
      b = await fixture.open();
    });

    afterEach(async () => {
      await fixture.cleanup();
    });

    describe('core pub/sub', () => {
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

    describe('durable streams', () => {
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

    describe('key-value', () => {
      it('creates once, reads, and updates only from the current revision', async () => {
        const kv = await a.kv('owners', { ttlMs: 60_000 });
        const other = await b.kv('owners', { ttlMs: 60_000 });
        expect(await kv.get('node-1')).toBeNull();
        const r1 = await kv.create('node-1', { replica: 'a' });
        await expectFleetError(() => other.create('node-1', { replica: 'b' }), 'already_exists');
        const got = await other.get('node-1');
        expect(got?.json()).toEqual({ replica: 'a' });
        expect(got?.revision).toBe(r1);
        expect(got?.key).toBe('node-1');

        const r2 = await other.update('node-1', { replica: 'b' }, r1);
        expect(r2).toBeGreaterThan(r1);
        const stale = await expectFleetError(() => kv.update('node-1', { replica: 'a' }, r1), 'conflict');
        expect(stale.message).toContain('node-1');
        await expectFleetError(() => kv.update('never-written', { replica: 'a' }, r1), 'conflict');
        expect((await kv.get('node-1'))?.json()).toEqual({ replica: 'b' });
        expect((await kv.get('node-1'))?.revision).toBe(r2);

        await kv.create('node-2', new Uint8Array([7]));
        expect([...(await kv.get('node-2'))!.value]).toEqual([7]);
        expect((await other.keys()).sort()).toEqual(['node-1', 'node-2']);
      });

      it('deletes only at the current revision when one is given; a deleted key reads null and can be created again', async () => {
        const kv = await a.kv('leases');
        const r1 = await kv.create('lease.x', { holder: 'a' });
        const r2 = await kv.update('lease.x', { holder: 'a', renewed: true }, r1);
        await expectFleetError(() => kv.delete('lease.x', r1), 'conflict');
        expect(await kv.get('lease.x')).not.toBeNull();
        await kv.delete('lease.x', r2);
        expect(await kv.get('lease.x')).toBeNull();
        expect(await kv.keys()).toEqual([]);
        const r3 = await kv.create('lease.x', { holder: 'b' });
        expect(r3).toBeGreaterThan(r2);
        await kv.delete('lease.x');
        expect(await kv.get('lease.x')).toBeNull();
        await kv.delete('never-written'); // nothing to delete is fine
      });

      it('expires entries ttlMs after their last write; an update renews', async () => {
        const ttl = fixture.ttlMs;
        const kv = await a.kv('sessions', { ttlMs: ttl });
        const renewed = await kv.create('renewed', { replica: 'a' });
        const lapsing = await kv.create('lapsing', { replica: 'a' });
        await fixture.elapse(ttl / 2);
        const r2 = await kv.update('renewed', { replica: 'a' }, renewed);
        await fixture.elapse(ttl / 2 + 50);
        // 'lapsing' is past its TTL, 'renewed' half-way through its new one.
        await eventually(async () => (await kv.get('lapsing')) === null, ttl * 2);
        expect((await kv.get('renewed'))?.revision).toBe(r2);
        expect(await kv.keys()).toEqual(['renewed']);
        // A lapsed key is free: create works, and its old revision no longer does.
        await expectFleetError(() => kv.update('lapsing', { replica: 'a' }, lapsing), 'conflict');
        await kv.create('lapsing', { replica: 'b' });

        await fixture.elapse(ttl / 2 + 50);
        await eventually(async () => (await kv.get('renewed')) === null, ttl * 2);
        expect(await kv.get('lapsing')).not.toBeNull();
      });

      it('opening a bucket again with another TTL applies the new one', async () => {
        const ttl = fixture.ttlMs;
        const long = await a.kv('retuned', { ttlMs: 3_600_000 });
        await long.create('k', { v: 1 });
        const short = await b.kv('retuned', { ttlMs: ttl });
        await fixture.elapse(ttl + 50);
        await eventually(async () => (await short.get('k')) === null, ttl * 2);
      });

      it('watch reports writes from other replicas in order until stopped', async () => {
        const kvA = await a.kv('watched');
        const kvB = await b.kv('watched');
        const early = await kvB.create('before', { v: 0 }); // before the watch: not reported
        const changes: KvChange[] = [];
        const stop = await kvA.watch((c) => changes.push(c));
        const r1 = await kvB.create('x', { v: 1 });
        const r2 = await kvB.update('x', { v: 2 }, r1);
        await kvB.delete('x');
        await eventually(() => changes.length === 3);
        expect(changes.map((c) => [c.key, c.op, c.value && JSON.parse(new TextDecoder().decode(c.value))])).toEqual([
          ['x', 'put', { v: 1 }],
          ['x', 'put', { v: 2 }],
          ['x', 'delete', null],
        ]);
        expect(changes[0]!.revision).toBe(r1);
        expect(changes[1]!.revision).toBe(r2);
        expect(changes[2]!.revision).toBeGreaterThan(r2);
        expect(early).toBeLessThan(r1);

        await stop();
        const later: KvChange[] = [];
        const stopLater = await kvA.watch((c) => later.push(c));
        await kvB.create('y', { v: 3 });
        await eventually(() => later.length === 1);
        await sleep(50);
        expect(changes).toHaveLength(3);
        await stopLater();
      });

      it('refuses bad keys, buckets, revisions, TTLs and values', async () => {
        const kv = await a.kv('checked');
        for (const key of ['', 'a b', 'did:key:z6Mk', 'a..b', '.a', 'a.', 'a.*', 'a.>', 'ü', 'x'.repeat(257)]) {
          await expectFleetError(() => kv.create(key, {}), 'invalid_argument');
          await expectFleetError(() => kv.get(key), 'invalid_argument');
        }
        for (const bucket of ['', 'a.b', 'a b', 'a=b', 'x'.repeat(65)]) {
          await expectFleetError(() => a.kv(bucket), 'invalid_argument');
        }
        for (const revision of [0, -1, 1.5, Number.NaN]) {
          await expectFleetError(() => kv.update('k', {}, revision), 'invalid_argument');
          await expectFleetError(() => kv.delete('k', revision), 'invalid_argument');
        }
        await expectFleetError(() => a.kv('checked', { ttlMs: 10 }), 'invalid_argument');
        await expectFleetError(() => a.kv('checked', { ttl: 1000 } as never), 'invalid_argument');
        await expectFleetError(() => kv.create('k', { n: 10n }), 'invalid_argument');
        await expectFleetError(() => kv.create('k', new Uint8Array(DEFAULT_MAX_PAYLOAD_BYTES + 1)), 'payload_too_large');
        expect(await kv.keys()).toEqual([]);
      });
    });

    describe('garbage in', () => {
      it('refuses bad subjects and patterns', async () => {
        for (const subject of ['', 'a..b', '.a', 'a.', 'a b', 'a\tb', 'a.*', 'a.>', '*', 'ü.x', 'x'.repeat(257), 42, null]) {
          await expectFleetError(() => a.publish(subject as string, {}), 'invalid_argument');
          await expectFleetError(() => a.durablePublish(subject as string, {}, 'id'), 'invalid_argument');
        }
        for (const pattern of ['', 'a..b', 'a.>.b', '>.a', 'a*', 'a.b>', 'a b', undefined]) {
          await expectFleetError(() => a.subscribe(pattern as string, () => undefined), 'invalid_argument');
        }
      });

      it('refuses data that is not bytes or JSON, naming why', async () => {
        const circular: Record<string, unknown> = {};
        circular.self = circular;
        const bad: unknown[] = [
          'text',
          42,
          null,
          undefined,
          circular,
          { n: 10n },
          { f: () => 1 },
          { m: new Map() },
          { x: Number.NaN },
          new ArrayBuffer(4),
          new Float32Array(2),
        ];
        for (const data of bad) {
          const err = await expectFleetError(() => a.publish('x.y', data as object), 'invalid_argument');
          expect(err.message).toMatch(/bus data/);
          await expectFleetError(() => a.durablePublish('x.y', data as object, 'id'), 'invalid_argument');
        }
      });

      it(`refuses payloads over ${DEFAULT_MAX_PAYLOAD_BYTES} bytes and carries one of exactly that size`, async () => {
        const got: BusMessage[] = [];
        await a.subscribe('big', (m) => got.push(m));
        const tooBig = await expectFleetError(() => b.publish('big', new Uint8Array(DEFAULT_MAX_PAYLOAD_BYTES + 1)), 'payload_too_large');
        expect(tooBig.details).toEqual({ bytes: DEFAULT_MAX_PAYLOAD_BYTES + 1, limit: DEFAULT_MAX_PAYLOAD_BYTES });
        await expectFleetError(() => b.publish('big', { s: 'x'.repeat(DEFAULT_MAX_PAYLOAD_BYTES) }), 'payload_too_large');
        await expectFleetError(() => b.durablePublish('big', new Uint8Array(DEFAULT_MAX_PAYLOAD_BYTES + 1), 'big-1'), 'payload_too_large');
        b.publish('big', new Uint8Array(DEFAULT_MAX_PAYLOAD_BYTES).fill(7));
        await eventually(() => got.length === 1);
        expect(got[0]!.data.length).toBe(DEFAULT_MAX_PAYLOAD_BYTES);
        expect(got[0]!.data[DEFAULT_MAX_PAYLOAD_BYTES - 1]).toBe(7);
        const stored = await b.durablePublish('big', new Uint8Array(DEFAULT_MAX_PAYLOAD_BYTES), 'big-2');
        expect(stored.duplicate).toBe(false);
      });

      it('json() of bytes that are not JSON is an invalid_argument', async () => {
        const got: BusMessage[] = [];
        await a.subscribe('raw', (m) => got.push(m));
        b.publish('raw', new Uint8Array([0xff, 0x00]));
        await eventually(() => got.length === 1);
        await expectFleetError(() => got[0]!.json(), 'invalid_argument');
      });

      it('after close every call is refused as unavailable, and closing again is harmless', async () => {
        const kv = await a.kv('after-close');
        await a.close();
        await a.close();
        await expectFleetError(() => a.publish('x', {}), 'unavailable');
        await expectFleetError(() => a.subscribe('x', () => undefined), 'unavailable');
        await expectFleetError(() => a.durablePublish('x', {}, 'id'), 'unavailable');
        await expectFleetError(() => a.durableConsume('c', 'x', async () => undefined), 'unavailable');
        await expectFleetError(() => a.kv('after-close'), 'unavailable');
        await expectFleetError(() => kv.get('k'), 'unavailable');
        await expectFleetError(() => kv.create('k', {}), 'unavailable');
      });
    });
  });
}

import { describe, expect, it } from 'vitest';
import type { Bus } from './bus.js';
import { describeBusContract } from './__tests__/bus-contract.js';
import { InProcessBroker, InProcessBus } from './in-process-bus.js';

/** A clock the TTL tests move by hand. */
class TestClock {
  t = 1_700_000_000_000;
  now(): number {
    return this.t;
  }
}

describeBusContract('in-process', async () => {
  const clock = new TestClock();
  const broker = new InProcessBroker({ clock });
  const buses: Bus[] = [];
  return {
    async open(options) {
      const bus = new InProcessBus({ broker, ...options });
      buses.push(bus);
      return bus;
    },
    async elapse(ms) {
      clock.t += ms;
    },
    // The clock is the test's: any TTL is exact.
    ttlMs: 1_000,
    async cleanup() {
      await Promise.all(buses.map((b) => b.close()));
    },
  };
});

describe('InProcessBus', () => {
  it('judges the dedupe window by its clock', async () => {
    const clock = new TestClock();
    const bus = new InProcessBus({ broker: new InProcessBroker({ clock, dedupeWindowMs: 1_000 }) });
    const first = await bus.durablePublish('d.x', { n: 1 }, 'same');
    clock.t += 999;
    expect(await bus.durablePublish('d.x', { n: 2 }, 'same')).toEqual({ seq: first.seq, duplicate: true });
    clock.t += 1;
    expect((await bus.durablePublish('d.x', { n: 3 }, 'same')).duplicate).toBe(false);
    await bus.close();
  });

  it('forgets a message once every consumer name that matches has acked it, and old ones', async () => {
    const clock = new TestClock();
    const broker = new InProcessBroker({ clock, maxAgeMs: 10_000 });
    const bus = new InProcessBus({ broker });
    const got: number[] = [];
    const c = await bus.durableConsume('only', 'f.>', async (m) => {
      got.push(m.json<{ n: number }>().n);
    });
    await bus.durablePublish('f.x', { n: 1 }, 'f-1');
    await bus.durablePublish('other.x', { n: 2 }, 'o-2'); // no consumer name matches: kept
    await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual([1]);
    await c.stop();
    // A new name matching both sees only what nobody had finished with.
    const late: number[] = [];
    const d = await bus.durableConsume('late', '>', async (m) => {
      late.push(m.json<{ n: number }>().n);
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(late).toEqual([2]);
    await d.stop();
    // Past the max age a message is gone even if unacked.
    await bus.durablePublish('g.x', { n: 3 }, 'g-3');
    clock.t += 10_000;
    await bus.durablePublish('g.x', { n: 4 }, 'g-4');
    const fresh: number[] = [];
    await bus.durableConsume('fresh', 'g.>', async (m) => {
      fresh.push(m.json<{ n: number }>().n);
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(fresh).toEqual([4]);
    await bus.close();
  });

  it('refuses unknown options', () => {
    expect(() => new InProcessBus({ clok: null } as never)).toThrow(/unknown in-process bus options: clok/);
    expect(() => new InProcessBroker({ maxAge: 1 } as never)).toThrow(/unknown in-process broker options: maxAge/);
    expect(() => new InProcessBus({ drainTimeoutMs: -1 })).toThrow(/drainTimeoutMs/);
  });
});

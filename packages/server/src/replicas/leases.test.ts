import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Bus } from '../bus/bus.js';
import { type Backend, BACKENDS, eventually, expectFleetError, FakeClock, openBackend, recordingLog } from './__tests__/replica-test-kit.js';
import { LEASE_ROLES, LEASES_BUCKET, Leases, SoleLeases, type LeasesOptions } from './leases.js';

/** Short enough that a lapse is waited out in a test, at the 300 ms floor's double. */
const TTL = 600;

describe('Leases: options', () => {
  it('refuses a TTL under 300 ms or not a whole number of milliseconds', async () => {
    const base = { bus: {} as Bus, replica: 'a', instance: 'a-1', log: recordingLog() };
    for (const ttlMs of [299, 0, -1, 300.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const err = await expectFleetError(() => new Leases({ ...base, ttlMs }), 'invalid_argument');
      expect(err.message).toContain('300');
    }
    expect(() => new Leases({ ...base, ttlMs: 300 })).not.toThrow();
  });
});

describe.each(BACKENDS)('Leases over the %s bus', (kind) => {
  let backend: Backend;
  let busA: Bus;
  let busB: Bus;
  const started: Leases[] = [];

  /** Every role: each Leases contends for all of them from its first pass. */
  const ALL = [...LEASE_ROLES].sort();

  /** A replica's leases on its own bus, with the views of two of its roles. */
  function leases(bus: Bus, replica: string, extra: Partial<LeasesOptions> = {}) {
    const log = recordingLog();
    const l = new Leases({ bus, replica, instance: `${replica}-instance`, ttlMs: TTL, log, ...extra });
    const alerts = l.role('alerts');
    const retention = l.role('retention');
    return { l, alerts, retention, log };
  }
  async function start<T extends { l: Leases }>(x: T): Promise<T> {
    await x.l.start();
    started.push(x.l);
    return x;
  }

  beforeEach(async () => {
    backend = await openBackend(kind);
    busA = await backend.open();
    busB = await backend.open();
    // The renewal timer is faked (and never fires): each test drives renewAll() itself, as a
    // paused replica would not renew. Only setInterval: the buses' timeouts stay real.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map((l) => l.stop()));
    vi.useRealTimers();
    await backend.cleanup();
  });

  it('gives each role to one of two contenders; holds(), fence() and held() agree', async () => {
    const a = await start(leases(busA, 'a'));
    const b = await start(leases(busB, 'b'));
    expect([a.alerts.holds(), b.alerts.holds()]).toEqual([true, false]);
    expect(a.l.held().sort()).toEqual(ALL);
    expect(b.l.held()).toEqual([]);
    expect(a.alerts.fence()).toBeGreaterThan(0);
    expect(b.alerts.fence()).toBeNull();
    // Renewing keeps the split as it is: the holder renews, the other still cannot take.
    await b.l.renewAll();
    await a.l.renewAll();
    await b.l.renewAll();
    expect([a.alerts.holds(), b.alerts.holds(), a.retention.holds(), b.retention.holds()]).toEqual([true, false, true, false]);
    expect(a.log.messages().filter((m) => m === 'took the lease')).toHaveLength(ALL.length);
  });

  it('role() views of one role agree, and no role is held before start()', async () => {
    const a = leases(busA, 'a');
    const again = a.l.role('alerts');
    expect(again.holds()).toBe(false);
    expect(a.l.held()).toEqual([]);
    await start(a);
    expect(again.holds()).toBe(true);
    expect(again.fence()).toBe(a.alerts.fence());
    // Each role is its own key: its own revision.
    expect(a.retention.fence()).not.toBe(a.alerts.fence());
  });

  it('stop() gives the leases up at once: the other takes them on its next pass, with a larger fence', async () => {
    const a = await start(leases(busA, 'a'));
    const b = await start(leases(busB, 'b'));
    const first = a.alerts.fence()!;
    // A renewal moves the fencing token but not the tenure.
    const tenure = a.alerts.tenure();
    await a.l.renewAll();
    expect(a.alerts.fence()!).toBeGreaterThan(first);
    expect(a.alerts.tenure()).toBe(tenure);
    expect(b.alerts.tenure()).toBeNull();
    await a.l.stop();
    expect(a.alerts.holds()).toBe(false);
    expect(a.l.held()).toEqual([]);
    // No waiting for the TTL: the keys are gone, so one pass takes them.
    await b.l.renewAll();
    expect(b.l.held().sort()).toEqual(ALL);
    const second = b.alerts.fence()!;
    expect(second).toBeGreaterThan(first);
    expect(b.alerts.tenure()).toBe(second);

    // A third tenure (a new replica instance on the first bus) fences higher again.
    const c = await start(leases(busA, 'c'));
    expect(c.alerts.holds()).toBe(false);
    await b.l.stop();
    await c.l.renewAll();
    expect(c.alerts.fence()!).toBeGreaterThan(second);
  });

  it('a holder paused past its deadline stops acting at once, and cannot take the lease back from its successor', async () => {
    // The holder's monotonic clock is the test's: moving it stands for a SIGSTOP (or GC pause)
    // during which no renewal ran.
    const mono = new FakeClock(1_000);
    const a = await start(leases(busA, 'a', { monotonic: () => mono.now() }));
    const b = await start(leases(busB, 'b'));
    expect(a.alerts.holds()).toBe(true);
    mono.advance(TTL * 0.9 + 1);
    // No renewal ran: the local deadline alone says the tenure is over.
    expect(a.alerts.holds()).toBe(false);
    expect(a.alerts.fence()).toBeNull();
    expect(a.l.held()).toEqual([]);
    // The key is still alive on the bus for the rest of the TTL: nobody takes it early.
    await b.l.renewAll();
    expect(b.alerts.holds()).toBe(false);

    // Once the KV TTL lapses (real time), the other replica takes the lease.
    await eventually(async () => {
      await b.l.renewAll();
      return b.alerts.holds() && b.retention.holds();
    }, 10_000);
    const successorFence = b.alerts.fence()!;

    // The paused replica wakes and renews: it must not get the lease back.
    await a.l.renewAll();
    expect(a.alerts.holds()).toBe(false);
    expect(a.l.held()).toEqual([]);
    expect(a.log.messages()).toContain('lease deadline passed before it was renewed; no longer acting for the role');
    expect(a.log.messages()).toContain('lost the lease');
    await a.l.renewAll();
    expect(a.alerts.holds()).toBe(false);
    await b.l.renewAll();
    expect(b.alerts.holds()).toBe(true);
    expect(b.alerts.fence()!).toBeGreaterThanOrEqual(successorFence);
    // The bucket names the successor.
    const kv = await busA.kv(LEASES_BUCKET, { ttlMs: TTL });
    expect((await kv.get('alerts'))?.json()).toEqual({ replica: 'b', instance: 'b-instance' });
  });

  it('a started holder keeps its lease past the TTL by renewing on its own', async () => {
    vi.useRealTimers();
    // A TTL with room for a slow renewal: renewed every 300 ms, lost after 810 ms without one.
    const ttlMs = 900;
    const a = await start(leases(busA, 'a', { ttlMs }));
    const b = await start(leases(busB, 'b', { ttlMs }));
    const first = a.alerts.fence()!;
    await new Promise((resolve) => setTimeout(resolve, ttlMs * 2));
    await b.l.renewAll();
    expect(b.alerts.holds()).toBe(false);
    expect(a.alerts.holds()).toBe(true);
    // Renewals are compare-and-set writes: the revision moved on.
    expect(a.alerts.fence()!).toBeGreaterThan(first);
  });
});

describe('SoleLeases (the embedded control plane)', () => {
  it('holds every role from the start and never loses one: there is no other replica to fence', async () => {
    const sole = new SoleLeases();
    await sole.start();
    expect(sole.held().sort()).toEqual([...LEASE_ROLES].sort());
    for (const name of LEASE_ROLES) expect(sole.role(name).holds()).toBe(true);
    expect(sole.role('scheduler').holds()).toBe(true);
    expect(sole.role('scheduler').tenure()).toBe(0);
    await sole.stop();
    expect(sole.role('alerts').holds()).toBe(true);
  });
});

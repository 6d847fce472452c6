import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { sampleEvent } from '../store/__tests__/store-fixtures.js';
import { EventBudget, resolveEventLimits, type EventLimits } from './event-limits.js';
import { EventWriter, fitEvent, storedEventBytes } from './event-writer.js';

/** A clock that only moves when the budget sleeps: waits are measured, not slept. */
function fakeTime() {
  const t = { now: 1_000_000, slept: 0 };
  return { t, now: () => t.now, sleep: async (ms: number) => void ((t.now += ms), (t.slept += ms)) };
}

const small = (over: Partial<EventLimits> = {}) =>
  resolveEventLimits({ eventsPerSecond: 10, eventBurst: 5, bytesPerSecond: 1000, byteBurst: 10_000, maxEventBytes: 2000, maxWaitingBytes: 50_000, ...over });

describe('EventBudget', () => {
  it('lets a burst through at once, then paces a node to its rate, in order', async () => {
    const f = fakeTime();
    const budget = new EventBudget(small(), f.now, f.sleep);
    const order: number[] = [];
    await Promise.all(Array.from({ length: 25 }, (_, i) => budget.admit('n1', 10).then(() => order.push(i))));
    expect(order).toEqual(Array.from({ length: 25 }, (_, i) => i));
    // 5 from the burst, 20 more at 10/s: two seconds.
    expect(f.t.slept).toBeGreaterThanOrEqual(1900);
    expect(f.t.slept).toBeLessThanOrEqual(2100);
    expect(budget.stats.delayed).toBe(20);
  });

  it('paces by bytes as well as by count, and one node does not slow another', async () => {
    const f = fakeTime();
    const budget = new EventBudget(small(), f.now, f.sleep);
    for (let i = 0; i < 5; i++) await budget.admit('big', 2000);
    expect(f.t.slept).toBe(0);
    await budget.admit('big', 2000);
    // The 10,000-byte burst is spent: 2,000 more bytes at 1,000 B/s.
    expect(f.t.slept).toBeGreaterThanOrEqual(1990);
    const before = f.t.slept;
    await budget.admit('other', 2000);
    expect(f.t.slept).toBe(before);
  });

  it('refuses with rate_limited once too much of one node waits, and recovers afterwards', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    let t = 0;
    const budget = new EventBudget(
      small({ eventBurst: 1, maxWaitingBytes: 3000 }),
      () => t,
      async (ms) => {
        await gate;
        t += ms;
      },
    );
    await budget.admit('n1', 1000);
    const waiting = [budget.admit('n1', 1000), budget.admit('n1', 1000), budget.admit('n1', 1000)];
    const refused = await budget.admit('n1', 1000).catch((e: unknown) => e);
    expect(FleetError.is(refused, 'rate_limited')).toBe(true);
    expect((refused as Error).message).toMatch(/outbox keeps them/);
    expect(budget.stats.refused).toBe(1);
    release();
    await Promise.all(waiting);
    await expect(budget.admit('n1', 1000)).resolves.toBeUndefined();
  });

  it('refuses unknown, zero, negative and non-numeric limits', () => {
    expect(() => resolveEventLimits({ eventsPerMinute: 5 } as never)).toThrow(/unknown event limit 'eventsPerMinute'/);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '5' as never])
      expect(() => resolveEventLimits({ eventBurst: bad })).toThrow(/positive number/);
    expect(() => resolveEventLimits({ maxEventBytes: 2e6, byteBurst: 1e6 })).toThrow(/must not exceed/);
    expect(resolveEventLimits()).toMatchObject({ eventsPerSecond: 50, maxEventBytes: 65_536 });
  });
});

describe('fitEvent', () => {
  it('keeps an event that fits, and cuts one that does not down to the limit, naming what it dropped', () => {
    const ok = sampleEvent('did:key:z6MkA', 1);
    expect(fitEvent(ok, 2000)).toEqual({ record: ok, bytes: storedEventBytes(ok), cut: false });
    const huge = sampleEvent('did:key:z6MkA', 2, { message: 'x'.repeat(10_000), data: { runId: 'r1', chunk: 3, data: 'y'.repeat(50_000) } });
    const fitted = fitEvent(huge, 8000);
    expect(fitted.cut).toBe(true);
    expect(fitted.bytes).toBeLessThanOrEqual(8000);
    expect(fitted.record.data).toEqual({ runId: 'r1', chunk: 3, truncated: { bytes: storedEventBytes(huge), fields: ['data'] } });
    expect(fitted.record.message.length).toBeLessThan(5000);
    // Many small fields that still do not fit: only the note stays.
    const wide = sampleEvent('did:key:z6MkA', 3, { message: '', data: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, 'v'.repeat(100)])) });
    expect(fitEvent(wide, 2000).record.data).toEqual({ truncated: { bytes: storedEventBytes(wide), fields: expect.arrayContaining(['k0', 'k499']) } });
  });
});

describe('EventWriter with limits, on SQLite', () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'event-limits-'));
    store = await openSqliteStore({ path: join(dir, 'gpufleet.db') });
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores every event of a node over its rate, paced, and a too-large one cut down', async () => {
    const f = fakeTime();
    const writer = new EventWriter(store, 1, 1000, new EventBudget(small(), f.now, f.sleep));
    const node = 'did:key:z6MkFlood';
    const writes = Array.from({ length: 30 }, (_, i) => writer.write(sampleEvent(node, i + 1)));
    writes.push(writer.write(sampleEvent(node, 31, { data: { runId: 'r', data: 'z'.repeat(20_000) } })));
    await Promise.all(writes);
    await writer.close();
    const stored = await store.listAgentEvents({ nodeId: node, limit: 100 });
    expect(stored).toHaveLength(31);
    expect(f.t.slept).toBeGreaterThanOrEqual(2500);
    expect(stored.find((e) => e.seq === 31)!.data).toEqual({ runId: 'r', truncated: { bytes: expect.any(Number), fields: ['data'] } });
    expect(writer.cut).toBe(1);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { sampleEvent } from '../store/__tests__/store-fixtures.js';
import { ManualClock } from '../testing/test-server.js';
import { soleHolder } from '../replicas/leases.js';
import { EventRetention } from './event-retention.js';

const DAY = 86_400_000;
const N1 = 'did:key:z6MkRet1';
const N2 = 'did:key:z6MkRet2';
const lease = soleHolder('retention');

let dir: string;
let store: Store;
let clock: ManualClock;
let warnings: string[];
const log = { info: () => undefined, warn: (_o: object, m: string) => void warnings.push(m) };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'event-retention-'));
  store = await openSqliteStore({ path: join(dir, 'gpufleet.db') });
  await store.migrate();
  clock = new ManualClock(Date.UTC(2026, 0, 31));
  warnings = [];
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const seqs = async (nodeId: string) => (await store.listAgentEvents({ nodeId, limit: 1000 })).map((e) => e.seq).sort((a, b) => a - b);

describe('EventRetention', () => {
  it('deletes events received before the window and trims nodes over the cap, in chunks', async () => {
    // N1: one event a day for 40 days, dated by the agent in the far future (it must not matter).
    await store.insertAgentEvents(
      Array.from({ length: 40 }, (_, i) => sampleEvent(N1, i + 1, { ts: clock.now() + 365 * DAY, receivedAt: clock.now() - (40 - i) * DAY + 1 })),
    );
    // N2: 50 recent events.
    await store.insertAgentEvents(Array.from({ length: 50 }, (_, i) => sampleEvent(N2, i + 1, { receivedAt: clock.now() - 1000 + i })));
    const retention = new EventRetention({ store, clock, log, lease, retentionMs: 30 * DAY, maxPerNode: 20, chunk: 7 });
    expect(await retention.runPass()).toEqual({ expired: 10, trimmed: 30 + 10 });
    // N1 kept its newest 30 days, then the newest 20 of those; N2 its newest 20.
    expect(await seqs(N1)).toEqual(Array.from({ length: 20 }, (_, i) => 21 + i));
    expect(await seqs(N2)).toEqual(Array.from({ length: 20 }, (_, i) => 31 + i));
    expect(await retention.runPass()).toEqual({ expired: 0, trimmed: 0 });
    clock.advance(15 * DAY);
    expect((await retention.runPass()).expired).toBe(5);
    expect(retention.totals).toMatchObject({ passes: 3, expired: 15, trimmed: 40, failures: 0 });
  });

  it('prunes nothing on a replica that does not hold the retention lease, and prunes once it does', async () => {
    await store.insertAgentEvents([sampleEvent(N1, 1, { receivedAt: clock.now() - 2 * DAY })]);
    let held = false;
    const retention = new EventRetention({
      store,
      clock,
      log,
      lease: { name: 'retention', holds: () => held, fence: () => null, tenure: () => null },
      retentionMs: DAY,
      maxPerNode: 100,
    });
    expect(await retention.runPass()).toEqual({ expired: 0, trimmed: 0 });
    expect(await seqs(N1)).toEqual([1]);
    held = true;
    expect(await retention.runPass()).toEqual({ expired: 1, trimmed: 0 });
    expect(await seqs(N1)).toEqual([]);
  });

  it('runs at start and on its interval, and stops cleanly', async () => {
    await store.insertAgentEvents([sampleEvent(N1, 1, { receivedAt: clock.now() - 2 * DAY })]);
    const retention = new EventRetention({ store, clock, log, lease, retentionMs: DAY, maxPerNode: 100, intervalMs: 20 });
    retention.start();
    expect(retention.state).toBe('running');
    for (let i = 0; i < 100 && (await seqs(N1)).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await seqs(N1)).toEqual([]);
    await store.insertAgentEvents([sampleEvent(N1, 2, { receivedAt: clock.now() - 2 * DAY })]);
    for (let i = 0; i < 100 && (await seqs(N1)).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await seqs(N1)).toEqual([]);
    await retention.stop();
    expect(retention.state).toBe('stopped');
    const passes = retention.totals.passes;
    await new Promise((r) => setTimeout(r, 60));
    expect(retention.totals.passes).toBe(passes);
  });

  it('logs and counts a failed pass, never throws', async () => {
    const broken = { pruneAgentEventsBefore: () => Promise.reject(new Error('disk gone')), nodesOverEventCap: async () => [], trimNodeEvents: async () => 0 };
    const retention = new EventRetention({ store: broken, clock, log, lease, retentionMs: DAY, maxPerNode: 100 });
    expect(await retention.runPass()).toEqual({ expired: 0, trimmed: 0 });
    expect(retention.totals.failures).toBe(1);
    expect(warnings).toEqual([expect.stringMatching(/retention pass failed/)]);
  });

  it('refuses a zero, negative or fractional setting', () => {
    for (const retentionMs of [0, -1, 1.5, Number.NaN])
      expect(() => new EventRetention({ store, clock, log, lease, retentionMs, maxPerNode: 10 })).toThrow(/positive number of ms/);
    for (const maxPerNode of [0, -3, 2.5])
      expect(() => new EventRetention({ store, clock, log, lease, retentionMs: DAY, maxPerNode })).toThrow(/positive integer/);
  });
});

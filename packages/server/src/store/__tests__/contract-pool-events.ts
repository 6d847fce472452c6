import { describe, expect, it } from 'vitest';
import type { PoolEventRecord } from '../store.js';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { sampleEvent } from './pool-fixtures.js';
import { T0 } from './store-fixtures.js';

/** Contract cases for pool events, size samples and provider state (0008_pools). */
export function poolEventContract(store: StoreRef): void {
  describe('pool events', () => {
    it('appends with increasing ids in the order given and round-trips every field', async () => {
      const first = [sampleEvent('train', 1), sampleEvent('train', 2, { kind: 'provision-started' }), sampleEvent('infer', 30)];
      const ids = await store().appendPoolEvents(first);
      expect(ids).toHaveLength(3);
      expect(ids[1]!).toBeGreaterThan(ids[0]!);
      expect(ids[2]!).toBeGreaterThan(ids[1]!);
      const more = await store().appendPoolEvents([sampleEvent('train', 5, { kind: 'replace-done' })]);
      expect(more[0]!).toBeGreaterThan(ids[2]!);
      expect(await store().listPoolEvents({})).toEqual([
        ...first.map((e, i) => ({ id: ids[i]!, ...e })),
        { id: more[0]!, ...sampleEvent('train', 5, { kind: 'replace-done' }) },
      ]);
      expect(await store().appendPoolEvents([])).toEqual([]);
    });

    it('lists after a cursor, per pool, and the newest `limit` (still oldest first); 100 by default', async () => {
      const ids = await store().appendPoolEvents(Array.from({ length: 150 }, (_, i) => sampleEvent(i % 3 === 0 ? 'infer' : 'train', i)));
      const all = await store().listPoolEvents({ limit: 1000 });
      expect(all.map((e) => e.id)).toEqual(ids);
      expect(await store().listPoolEvents({})).toEqual(all.slice(0, 100));
      expect(await store().listPoolEvents({ after: ids[139]! })).toEqual(all.slice(140));
      expect(await store().listPoolEvents({ after: ids[10]!, limit: 5 })).toEqual(all.slice(11, 16));
      expect(await store().listPoolEvents({ newest: true, limit: 3 })).toEqual(all.slice(147));
      const infer = all.filter((e) => e.pool === 'infer');
      expect(await store().listPoolEvents({ pool: 'infer', limit: 1000 })).toEqual(infer);
      expect(await store().listPoolEvents({ pool: 'infer', newest: true, limit: 2 })).toEqual(infer.slice(-2));
      expect(await store().listPoolEvents({ pool: 'infer', after: infer[47]!.id })).toEqual(infer.slice(48));
      expect(await store().listPoolEvents({ after: ids[149]! })).toEqual([]);
      expect(await store().listPoolEvents({ pool: 'none' })).toEqual([]);
    });

    it('refuses a batch holding garbage and writes none of it', async () => {
      const cases: Array<[string, unknown]> = [
        ['events[1].kind', [sampleEvent('train', 1), sampleEvent('train', 2, { kind: 'exploded' as never })]],
        ['events[0].at', [sampleEvent('train', 1, { at: 1.5 })]],
        ['events[0].pool', [sampleEvent('', 1)]],
        ['events[0].message', [sampleEvent('train', 1, { message: null as never })]],
        ['events[1].operationId', [sampleEvent('train', 1), sampleEvent('train', 2, { operationId: 5 as never })]],
        ['events[0]', ['scale-up']],
        ['events', 'scale-up'],
      ];
      for (const [field, events] of cases) {
        const err = await expectFleetError(store().appendPoolEvents(events as never), 'invalid_argument');
        expect(err.message, field).toContain(field);
      }
      expect(await store().listPoolEvents({})).toEqual([]);
      await expectFleetError(store().listPoolEvents({ after: 'x' as never }), 'invalid_argument');
      await expectFleetError(store().listPoolEvents({ limit: -1 }), 'invalid_argument');
    });

    it('concurrent appends get distinct increasing ids, and a reader paging by cursor meanwhile misses none', async () => {
      const writers = 8;
      const perWriter = 6;
      let writing = true;
      const seen: PoolEventRecord[] = [];
      const reader = (async () => {
        // Pages `after` the last id seen while writers append: an id committed behind the cursor would be lost for ever.
        while (writing) {
          seen.push(...(await store().listPoolEvents({ after: seen.at(-1)?.id ?? 0, limit: 3 })));
        }
      })();
      const results = await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          const ids: number[] = [];
          for (let b = 0; b < 3; b++)
            ids.push(...(await store().appendPoolEvents(Array.from({ length: perWriter / 3 }, (_, i) => sampleEvent(`w${w}`, b * 10 + i)))));
          return ids;
        }),
      );
      writing = false;
      await reader;
      for (;;) {
        const page = await store().listPoolEvents({ after: seen.at(-1)?.id ?? 0 });
        if (page.length === 0) break;
        seen.push(...page);
      }
      const all = results.flat();
      expect(new Set(all).size).toBe(writers * perWriter);
      for (const ids of results) expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      expect(seen.map((e) => e.id)).toEqual([...all].sort((a, b) => a - b));
    });
  });

  describe('pool size samples', () => {
    it('lists a pool from `since` (inclusive), oldest first; a sample at the same time replaces the first; prune counts what it removed', async () => {
      for (const at of [T0 + 300, T0 + 100, T0 + 200]) await store().appendPoolSizeSample({ pool: 'train', at, ready: at - T0, desired: 4 });
      await store().appendPoolSizeSample({ pool: 'infer', at: T0 + 150, ready: 1, desired: 1 });
      await store().appendPoolSizeSample({ pool: 'train', at: T0 + 200, ready: 3, desired: 5 });
      expect(await store().listPoolSizeSamples('train', T0 + 100)).toEqual([
        { pool: 'train', at: T0 + 100, ready: 100, desired: 4 },
        { pool: 'train', at: T0 + 200, ready: 3, desired: 5 },
        { pool: 'train', at: T0 + 300, ready: 300, desired: 4 },
      ]);
      expect((await store().listPoolSizeSamples('train', T0 + 101)).map((s) => s.at)).toEqual([T0 + 200, T0 + 300]);
      expect(await store().listPoolSizeSamples('none', 0)).toEqual([]);

      expect(await store().prunePoolSizeSamples(T0 + 200)).toBe(2);
      expect((await store().listPoolSizeSamples('train', 0)).map((s) => s.at)).toEqual([T0 + 200, T0 + 300]);
      expect(await store().listPoolSizeSamples('infer', 0)).toEqual([]);
      expect(await store().prunePoolSizeSamples(T0 + 200)).toBe(0);
    });

    it('refuses garbage and writes nothing', async () => {
      const cases: Array<[string, unknown]> = [
        ['sample.ready', { pool: 'train', at: T0, ready: -1, desired: 1 }],
        ['sample.desired', { pool: 'train', at: T0, ready: 1, desired: '1' }],
        ['sample.at', { pool: 'train', at: null, ready: 1, desired: 1 }],
        ['sample.pool', { pool: '', at: T0, ready: 1, desired: 1 }],
        ['sample', 7],
      ];
      for (const [field, sample] of cases) {
        const err = await expectFleetError(store().appendPoolSizeSample(sample as never), 'invalid_argument');
        expect(err.message, field).toContain(field);
      }
      expect(await store().listPoolSizeSamples('train', 0)).toEqual([]);
      await expectFleetError(store().listPoolSizeSamples('train', 0.5), 'invalid_argument');
      await expectFleetError(store().prunePoolSizeSamples(Number.NaN), 'invalid_argument');
    });
  });

  describe('provider state', () => {
    it('puts, gets, lists by key and deletes JSON values, each provider apart', async () => {
      const values: Record<string, unknown> = {
        'lease/host-b': { host: '10.0.0.7', instanceId: 'ssh-10.0.0.7', since: T0, tags: ['a', 'ünï'], nested: { ok: true, none: null } },
        'lease/host-a': ['x', 1, 2.5, false, null],
        counter: 42,
        note: 'line\n"quoted" \\',
        flag: false,
        nothing: null,
      };
      for (const [k, v] of Object.entries(values)) await store().putProviderState('rack', k, v);
      await store().putProviderState('other', 'counter', 1);
      for (const [k, v] of Object.entries(values)) expect(await store().getProviderState('rack', k)).toEqual(v);
      expect(await store().getProviderState('rack', 'missing')).toBeUndefined();
      expect(await store().getProviderState('nobody', 'counter')).toBeUndefined();
      expect((await store().listProviderState('rack')).map((e) => e.key)).toEqual(['counter', 'flag', 'lease/host-a', 'lease/host-b', 'note', 'nothing']);
      expect(await store().listProviderState('other')).toEqual([{ key: 'counter', value: 1 }]);

      await store().putProviderState('rack', 'counter', { n: 43 });
      expect(await store().getProviderState('rack', 'counter')).toEqual({ n: 43 });
      expect(await store().getProviderState('other', 'counter')).toBe(1);

      await store().deleteProviderState('rack', 'lease/host-a');
      await store().deleteProviderState('rack', 'lease/host-a');
      expect(await store().getProviderState('rack', 'lease/host-a')).toBeUndefined();
      expect((await store().listProviderState('rack')).map((e) => e.key)).toEqual(['counter', 'flag', 'lease/host-b', 'note', 'nothing']);
      expect(await store().listProviderState('nobody')).toEqual([]);
    });

    it('refuses garbage and keeps what was stored', async () => {
      await store().putProviderState('rack', 'k', { v: 1 });
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const cases: Array<[string, unknown[]]> = [
        ['value', ['rack', 'k', undefined]],
        ['value', ['rack', 'k', cyclic]],
        ['value', ['rack', 'k', { big: 10n }]],
        ['value', ['rack', 'k', () => 1]],
        ['key', ['rack', '', 1]],
        ['provider', ['', 'k', 1]],
        ['key', ['rack', 5, 1]],
        ['more than 1000000', ['rack', 'k', 'x'.repeat(1_000_000)]],
      ];
      for (const [field, [provider, key, value]] of cases) {
        const err = await expectFleetError(store().putProviderState(provider as string, key as string, value), 'invalid_argument');
        expect(err.message, field).toContain(field);
      }
      expect(await store().listProviderState('rack')).toEqual([{ key: 'k', value: { v: 1 } }]);
      await expectFleetError(store().deleteProviderState('rack', ''), 'invalid_argument');
      await expectFleetError(store().getProviderState('', 'k'), 'invalid_argument');
    });
  });
}

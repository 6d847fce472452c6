import { describe, expect, it } from 'vitest';
import type { PoolConfigRecord, ProviderConfigRecord } from '../store.js';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { sampleEvent, sampleMember, sampleOperation, samplePool, samplePoolSpec, sampleProvider, sampleState } from './pool-fixtures.js';
import { T0 } from './store-fixtures.js';

/** Contract cases for the applied pools file and each pool's desired size (0008_pools). */
export function poolConfigContract(store: StoreRef): void {
  const applied = async () => ({ providers: await store().listProviderConfigs(), pools: await store().listPoolConfigs() });

  describe('pools config', () => {
    it('round-trips every provider type and pool field, listed by name', async () => {
      const providers = ['sim', 'rack', 'lambda', 'aws'].map((n) => sampleProvider(n));
      const pools = [
        samplePool('train-b', 'aws', { image: 'ami-0abcdef1234567890', zones: [], autoscaling: null, pricePerHour: null }),
        samplePool('train-a', 'sim', {
          health: { replaceAfterMs: 0, maxParallelReplacements: 0, maxUnavailable: { kind: 'count', count: 2 }, joinTimeoutMs: 1000 },
        }),
        samplePool('train', 'lambda'),
      ];
      await store().replacePoolsConfig(providers, pools);
      const got = await applied();
      expect(got.providers).toEqual([...providers].sort((a, b) => (a.name < b.name ? -1 : 1)));
      // Code-unit order ('-' before letters), the same on both engines whatever PostgreSQL's collation.
      expect(got.pools.map((p) => p.name)).toEqual(['train', 'train-a', 'train-b']);
      expect(got.pools).toEqual([pools[2], pools[1], pools[0]]);
      expect(got.providers.find((p) => p.name === 'rack')?.spec).toEqual({ type: 'ssh', hostsFile: 'hosts/rack 1 "ünï".yaml' });
    });

    it('replaces the whole config: what is not listed is gone; members, operations, states and events of removed pools stay', async () => {
      await store().replacePoolsConfig([sampleProvider('sim'), sampleProvider('aws')], [samplePool('train', 'sim'), samplePool('infer', 'aws')]);
      await store().putPoolState(sampleState('infer'));
      await store().putPoolMember(sampleMember('i-infer', { pool: 'infer', provider: 'aws' }));
      await store().insertPoolOperation(sampleOperation('op-infer', { pool: 'infer' }));
      const [eventId] = await store().appendPoolEvents([sampleEvent('infer', 1)]);

      const next = { providers: [sampleProvider('sim', { appliedAt: T0 + 20, appliedBy: 'token:ci' })], pools: [samplePool('train', 'sim', { maxNodes: 16 })] };
      await store().replacePoolsConfig(next.providers, next.pools);
      expect(await applied()).toEqual(next);
      expect(await store().getPoolState('infer')).toEqual(sampleState('infer'));
      expect(await store().listPoolMembers({ pool: 'infer' })).toEqual([sampleMember('i-infer', { pool: 'infer', provider: 'aws' })]);
      expect(await store().getPoolOperation('op-infer')).toEqual(sampleOperation('op-infer', { pool: 'infer' }));
      expect(await store().listPoolEvents({ pool: 'infer' })).toEqual([{ id: eventId, ...sampleEvent('infer', 1) }]);

      await store().replacePoolsConfig([], []);
      expect(await applied()).toEqual({ providers: [], pools: [] });
    });

    it('refuses garbage with invalid_argument naming the field, and keeps the config applied before', async () => {
      const before = { providers: [sampleProvider('sim')], pools: [samplePool('train')] };
      await store().replacePoolsConfig(before.providers, before.pools);
      const cases: Array<[string, ProviderConfigRecord[], PoolConfigRecord[]]> = [
        ['providers[0].spec.bogus', [sampleProvider('sim', { spec: { ...sampleProvider('sim').spec, bogus: 1 } as never })], []],
        ['providers[0].spec.type', [sampleProvider('sim', { spec: { type: 'gcp' } as never })], []],
        ['providers[1].spec.region', [sampleProvider('sim'), sampleProvider('aws', { spec: { ...sampleProvider('aws').spec, region: 'mars' } as never })], []],
        ['providers[0].name', [sampleProvider('Bad Name')], []],
        ['providers[0].baseDir', [sampleProvider('sim', { baseDir: '' })], []],
        ['providers[0].appliedAt', [sampleProvider('sim', { appliedAt: 1.5 })], []],
        ['providers[1].name', [sampleProvider('sim'), sampleProvider('sim')], []],
        ['pools[0].spec.minNodes', [sampleProvider('sim')], [samplePool('train', 'sim', { minNodes: 9, maxNodes: 2 })]],
        ['pools[0].spec.health', [sampleProvider('sim')], [{ ...samplePool('train'), spec: { ...samplePoolSpec('train'), health: undefined } as never }]],
        ['pools[0].spec.name', [sampleProvider('sim')], [{ ...samplePool('train'), name: 'infer' }]],
        ['pools[0].spec.provider', [sampleProvider('sim')], [samplePool('train', 'aws')]],
        ['pools[1].name', [sampleProvider('sim')], [samplePool('train'), samplePool('train')]],
        ['pools[0].appliedBy', [sampleProvider('sim')], [{ ...samplePool('train'), appliedBy: null as never }]],
        ['pools', [sampleProvider('sim')], 'train' as never],
        ['pools[0]', [sampleProvider('sim')], [null as never]],
      ];
      for (const [field, providers, pools] of cases) {
        const err = await expectFleetError(store().replacePoolsConfig(providers, pools), 'invalid_argument');
        expect(err.message, field).toContain(field);
      }
      expect(await applied()).toEqual(before);
    });

    it('concurrent applies never mix two files and never fail on each other', async () => {
      const files = Array.from({ length: 6 }, (_, i) => ({
        providers: [sampleProvider('sim', { appliedBy: `token:t${i}` }), sampleProvider(`extra-${i}`, { appliedBy: `token:t${i}` })],
        pools: Array.from({ length: 3 }, (_, j) => samplePool(`pool-${i}-${j}`, j === 0 ? 'sim' : `extra-${i}`)),
      }));
      await Promise.all(files.map((f) => store().replacePoolsConfig(f.providers, f.pools)));
      const got = await applied();
      const winner = files.find((f) => f.providers[0]!.appliedBy === got.providers[0]?.appliedBy);
      expect(winner).toBeDefined();
      expect(got).toEqual({ providers: [...winner!.providers].sort((a, b) => (a.name < b.name ? -1 : 1)), pools: winner!.pools });
    });
  });

  describe('pool states', () => {
    it('round-trips a state, replaces it whole, and answers undefined for a pool without one', async () => {
      expect(await store().getPoolState('train')).toBeUndefined();
      await store().putPoolState(sampleState('train'));
      expect(await store().getPoolState('train')).toEqual(sampleState('train'));
      const next = sampleState('train', {
        desired: 0,
        desiredSource: 'min',
        manualReason: null,
        lastScaleUpAt: null,
        lastScaleDownAt: null,
        updatedAt: T0 + 200,
      });
      await store().putPoolState(next);
      expect(await store().getPoolState('train')).toEqual(next);
      await store().putPoolState(sampleState('infer', { desiredSource: 'autoscale' }));
      expect(await store().getPoolState('train')).toEqual(next);
      expect((await store().getPoolState('infer'))?.desiredSource).toBe('autoscale');
    });

    it('refuses garbage and keeps the stored state', async () => {
      await store().putPoolState(sampleState('train'));
      const cases: Array<[string, unknown]> = [
        ['state.desired', sampleState('train', { desired: -1 })],
        ['state.desired', sampleState('train', { desired: 2.5 })],
        ['state.desiredSource', sampleState('train', { desiredSource: 'vibes' as never })],
        ['state.manualReason', sampleState('train', { manualReason: 7 as never })],
        ['state.lastScaleUpAt', sampleState('train', { lastScaleUpAt: '2025' as never })],
        ['state.updatedAt', sampleState('train', { updatedAt: Number.NaN })],
        ['state.pool', sampleState('')],
        ['state', null],
      ];
      for (const [field, state] of cases) {
        const err = await expectFleetError(store().putPoolState(state as never), 'invalid_argument');
        expect(err.message, field).toContain(field);
      }
      expect(await store().getPoolState('train')).toEqual(sampleState('train'));
      await expectFleetError(store().getPoolState(42 as never), 'invalid_argument');
    });
  });
}

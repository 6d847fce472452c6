import type { PoolOpStage } from '@gpufleet/protocol';
import { describe, expect, it } from 'vitest';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { bareOperation, sampleMember, sampleOperation } from './pool-fixtures.js';
import { T0 } from './store-fixtures.js';

/** Contract cases for pool members and operations, the stage compare-and-set included (0008_pools). */
export function poolOperationContract(store: StoreRef): void {
  describe('pool members', () => {
    it('round-trips every field, replaces by instance id, lists oldest first, terminated only when asked', async () => {
      const joining = sampleMember('i-2', {
        provisionedAt: T0 + 500,
        state: 'joining',
        nodeId: null,
        zone: null,
        pricePerHour: null,
        joinedAt: null,
        idleSince: null,
      });
      const active = sampleMember('i-1');
      const gone = sampleMember('i-0', { provisionedAt: T0, state: 'terminated', terminatedAt: T0 + 9000, idleSince: null });
      const other = sampleMember('i-9', { pool: 'infer', provisionedAt: T0 + 1 });
      for (const m of [active, joining, gone, other]) await store().putPoolMember(m);
      expect(await store().listPoolMembers({ pool: 'train' })).toEqual([joining, active]);
      expect(await store().listPoolMembers({ pool: 'train', includeTerminated: true })).toEqual([gone, joining, active]);
      expect(await store().listPoolMembers({})).toEqual([other, joining, active]);
      expect(await store().listPoolMembers({ includeTerminated: true })).toEqual([gone, other, joining, active]);

      const joined = { ...joining, state: 'active' as const, nodeId: 'did:key:z6MkJoined', joinedAt: T0 + 700, pricePerHour: 0.001 };
      await store().putPoolMember(joined);
      expect(await store().listPoolMembers({ pool: 'train' })).toEqual([joined, active]);
    });

    it('refuses garbage and writes nothing', async () => {
      const cases: Array<[string, unknown]> = [
        ['member.state', sampleMember('i-x', { state: 'zombie' as never })],
        ['member.pricePerHour', sampleMember('i-x', { pricePerHour: -1 })],
        ['member.pricePerHour', sampleMember('i-x', { pricePerHour: Number.POSITIVE_INFINITY })],
        ['member.nodeId', sampleMember('i-x', { nodeId: '' })],
        ['member.instanceId', sampleMember('')],
        ['member.joinTokenId', sampleMember('i-x', { joinTokenId: undefined as never })],
        ['member.provisionedAt', sampleMember('i-x', { provisionedAt: 1e300 })],
        ['member.idleSince', sampleMember('i-x', { idleSince: '5' as never })],
        ['member', 'i-x'],
      ];
      for (const [field, member] of cases) {
        const err = await expectFleetError(store().putPoolMember(member as never), 'invalid_argument');
        expect(err.message, field).toContain(field);
      }
      expect(await store().listPoolMembers({ includeTerminated: true })).toEqual([]);
      await expectFleetError(store().listPoolMembers({ includeTerminated: 'yes' as never }), 'invalid_argument');
    });
  });

  describe('pool operations', () => {
    it('round-trips every field (set and null); a taken id is already_exists and the first stays', async () => {
      await store().insertPoolOperation(sampleOperation('op-1'));
      await store().insertPoolOperation(bareOperation('op-2'));
      expect(await store().getPoolOperation('op-1')).toEqual(sampleOperation('op-1'));
      expect(await store().getPoolOperation('op-2')).toEqual(bareOperation('op-2'));
      expect(await store().getPoolOperation('op-3')).toBeUndefined();
      await expectFleetError(store().insertPoolOperation(bareOperation('op-1', { reason: 'again' })), 'already_exists');
      expect(await store().getPoolOperation('op-1')).toEqual(sampleOperation('op-1'));
    });

    it('updates only from the expected stage: the patch applies whole, a wrong stage changes nothing, an unknown id is not_found', async () => {
      await store().insertPoolOperation(bareOperation('op-1'));
      const patch = {
        stage: 'provisioning' as const,
        instanceId: 'i-0abc',
        zone: 'us-east-1a',
        zonesTried: ['us-east-1a'],
        attempts: 1,
        updatedAt: T0 + 2000,
        deadlineAt: T0 + 9000,
      };
      expect(await store().updatePoolOperation('op-1', 'requested', patch)).toBe(true);
      expect(await store().getPoolOperation('op-1')).toEqual({ ...bareOperation('op-1'), ...patch });

      expect(await store().updatePoolOperation('op-1', 'requested', { stage: 'failed', error: 'late' })).toBe(false);
      expect(await store().getPoolOperation('op-1')).toEqual({ ...bareOperation('op-1'), ...patch });

      // Nulling fields and an empty patch, which only answers whether the stage is the expected one.
      expect(await store().updatePoolOperation('op-1', 'provisioning', { zone: null, deadlineAt: null, error: 'capacity', notBefore: T0 + 3000 })).toBe(true);
      expect(await store().getPoolOperation('op-1')).toMatchObject({
        stage: 'provisioning',
        zone: null,
        deadlineAt: null,
        error: 'capacity',
        notBefore: T0 + 3000,
      });
      expect(await store().updatePoolOperation('op-1', 'provisioning', {})).toBe(true);
      expect(await store().updatePoolOperation('op-1', 'joining', {})).toBe(false);

      await expectFleetError(store().updatePoolOperation('op-404', 'requested', { stage: 'done' }), 'not_found');
    });

    it('refuses garbage patches (fixed or unknown fields, bad values) and writes nothing', async () => {
      await store().insertPoolOperation(sampleOperation('op-1'));
      const cases: Array<[string, unknown, unknown]> = [
        ["'pool'", 'requested', { pool: 'other' }],
        ["'kind'", 'requested', { kind: 'provision' }],
        ["'id'", 'requested', { id: 'op-2' }],
        ["'startedAt'", 'requested', { startedAt: T0 }],
        ["'colour'", 'requested', { stage: 'done', colour: 'red' }],
        ['patch.stage', 'requested', { stage: 'finished' }],
        ['patch.zonesTried', 'requested', { stage: 'done', zonesTried: 'us-east-1a' }],
        ['patch.zonesTried[1]', 'requested', { stage: 'done', zonesTried: ['a', ''] }],
        ['patch.attempts', 'requested', { stage: 'done', attempts: -1 }],
        ['patch.updatedAt', 'requested', { stage: 'done', updatedAt: null }],
        ['patch', 'requested', null],
        ['expectedStage', 'sideways', { stage: 'done' }],
      ];
      for (const [field, stage, patch] of cases) {
        const err = await expectFleetError(store().updatePoolOperation('op-1', stage as PoolOpStage, patch as never), 'invalid_argument');
        expect(err.message, field).toContain(field);
      }
      expect(await store().getPoolOperation('op-1')).toEqual(sampleOperation('op-1'));
    });

    it('refuses garbage operations and writes nothing', async () => {
      const cases: Array<[string, unknown]> = [
        ['operation.kind', sampleOperation('op-1', { kind: 'resize' as never })],
        ['operation.stage', sampleOperation('op-1', { stage: undefined as never })],
        ['operation.zonesTried', sampleOperation('op-1', { zonesTried: null as never })],
        ['operation.attempts', sampleOperation('op-1', { attempts: 0.5 })],
        ['operation.reason', sampleOperation('op-1', { reason: undefined as never })],
        ['operation.id', sampleOperation('')],
        ['operation.startedAt', sampleOperation('op-1', { startedAt: '1' as never })],
        ['operation', []],
      ];
      for (const [field, op] of cases) {
        const err = await expectFleetError(store().insertPoolOperation(op as never), 'invalid_argument');
        expect(err.message, field).toContain(field);
      }
      expect(await store().listPoolOperations({})).toEqual([]);
    });

    it('of concurrent updates from one stage exactly one wins, stage after stage', async () => {
      await store().insertPoolOperation(bareOperation('op-race'));
      const path: PoolOpStage[] = ['requested', 'provisioning', 'joining', 'draining', 'terminating', 'done'];
      for (let s = 0; s + 1 < path.length; s++) {
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            store().updatePoolOperation('op-race', path[s]!, { stage: path[s + 1]!, attempts: i, updatedAt: T0 + s * 100 + i }),
          ),
        );
        const winners = results.flatMap((won, i) => (won ? [i] : []));
        expect(winners, `from ${path[s]}`).toHaveLength(1);
        expect(await store().getPoolOperation('op-race')).toMatchObject({ stage: path[s + 1], attempts: winners[0], updatedAt: T0 + s * 100 + winners[0]! });
      }
    });

    it('lists oldest first (ties by id), by pool, active or not, up to a limit', async () => {
      const ops = [
        bareOperation('op-b', { startedAt: T0 + 10, stage: 'joining' }),
        bareOperation('op-a', { startedAt: T0 + 10, stage: 'done' }),
        bareOperation('op-c', { startedAt: T0 + 5, stage: 'failed' }),
        bareOperation('op-d', { startedAt: T0 + 20, stage: 'requested', pool: 'infer' }),
        bareOperation('op-e', { startedAt: T0 + 1, stage: 'terminating', kind: 'scale-down' }),
      ];
      for (const op of ops) await store().insertPoolOperation(op);
      const ids = async (q: Parameters<ReturnType<StoreRef>['listPoolOperations']>[0]) => (await store().listPoolOperations(q)).map((o) => o.id);
      expect(await ids({})).toEqual(['op-e', 'op-c', 'op-a', 'op-b', 'op-d']);
      expect(await ids({ active: true })).toEqual(['op-e', 'op-b', 'op-d']);
      expect(await ids({ active: false })).toEqual(['op-c', 'op-a']);
      expect(await ids({ pool: 'train', active: true })).toEqual(['op-e', 'op-b']);
      expect(await ids({ pool: 'infer' })).toEqual(['op-d']);
      expect(await ids({ limit: 2 })).toEqual(['op-e', 'op-c']);
      expect(await ids({ pool: 'none' })).toEqual([]);
      // Moving out of an active stage takes it off the active list.
      expect(await store().updatePoolOperation('op-b', 'joining', { stage: 'done' })).toBe(true);
      expect(await ids({ active: true })).toEqual(['op-e', 'op-d']);
      expect((await store().listPoolOperations({ pool: 'train' }))[0]).toEqual(ops[4]);
      await expectFleetError(store().listPoolOperations({ limit: 0 }), 'invalid_argument');
      await expectFleetError(store().listPoolOperations({ active: 1 as never }), 'invalid_argument');
    });
  });
}

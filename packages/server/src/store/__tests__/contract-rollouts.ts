import { describe, expect, it } from 'vitest';
import type { RolloutHostRecord, RolloutRecord } from '../store.js';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { T0 } from './store-fixtures.js';

const SIGNED = { payload: { v: 1, nonce: 'ünïcode ✓ nonce' }, sig: 'c2ln' } as unknown as RolloutRecord['signed'];

function rollout(id: string, at: number, over: Partial<RolloutRecord> = {}): RolloutRecord {
  return {
    id,
    kind: 'agent',
    name: 'gpufleet-agent',
    version: '0.3.0',
    targetPath: 'agent/gpufleet-agent-0.3.0.tgz',
    targetSha256: 'a'.repeat(64),
    selector: 'pool=inference',
    plan: { canary: 1, waves: [50, 100], healthyForMs: 1000, maxFailures: 0 },
    signed: SIGNED,
    state: 'running',
    step: 0,
    steps: [{ name: 'canary', hosts: 1, state: 'running', startedAt: at, settlingSince: null, doneAt: null }],
    forgivenFailures: 0,
    message: null,
    createdBy: 'token:ops',
    createdAt: at,
    updatedAt: at,
    ...over,
  };
}

function host(rolloutId: string, nodeId: string, position: number, over: Partial<RolloutHostRecord> = {}): RolloutHostRecord {
  return {
    rolloutId,
    nodeId,
    hostname: `host-${nodeId}`,
    step: position === 0 ? 0 : 1,
    position,
    state: 'pending',
    fromVersion: null,
    runningVersion: null,
    healthySince: null,
    failedAt: null,
    rollback: 'none',
    message: null,
    updatedAt: T0,
    ...over,
  };
}

/** Contract cases for the rollout tables (0013_rollouts). */
export function rolloutContract(store: StoreRef): void {
  describe('rollouts', () => {
    it('stores a rollout with its hosts, reads it back exactly, lists newest first and by state', async () => {
      const a = rollout('ro-aaaaaaaa', T0);
      const b = rollout('ro-bbbbbbbb', T0 + 10, { state: 'paused', message: 'paused by token:ops' });
      await store().insertRollout(a, [host(a.id, 'n2', 1), host(a.id, 'n1', 0)]);
      await store().insertRollout(b, []);
      expect(await store().getRollout(a.id)).toEqual(a);
      expect(await store().getRollout('ro-missing')).toBeUndefined();
      expect((await store().listRollouts()).map((r) => r.id)).toEqual([b.id, a.id]);
      expect((await store().listRollouts({ states: ['running'] })).map((r) => r.id)).toEqual([a.id]);
      expect(await store().listRollouts({ states: [] })).toEqual([]);
      expect((await store().listRollouts({ limit: 1 })).map((r) => r.id)).toEqual([b.id]);
      expect(await store().listRolloutHosts(a.id)).toEqual([host(a.id, 'n1', 0), host(a.id, 'n2', 1)]);
    });

    it('refuses a taken id (writing none of the new hosts) and garbage before SQL', async () => {
      const a = rollout('ro-aaaaaaaa', T0);
      await store().insertRollout(a, [host(a.id, 'n1', 0)]);
      await expectFleetError(store().insertRollout(rollout(a.id, T0 + 1), [host(a.id, 'n9', 0)]), 'already_exists');
      expect((await store().listRolloutHosts(a.id)).map((h) => h.nodeId)).toEqual(['n1']);
      await expectFleetError(store().insertRollout(rollout('ro-x', T0, { state: 'exploded' as never }), []), 'invalid_argument');
      await expectFleetError(store().insertRollout(rollout('ro-y', T0), [host('other', 'n1', 0)]), 'invalid_argument');
      await expectFleetError(store().insertRollout(rollout('ro-z', T0), [host('ro-z', 'n1', 1.5)]), 'invalid_argument');
      await expectFleetError(store().updateRollout(a.id, { step: 'two' as never }), 'invalid_argument');
      await expectFleetError(store().updateRolloutHosts(a.id, [{ nodeId: 'n1', patch: { state: 'bricked' as never } }]), 'invalid_argument');
      await expectFleetError(store().updateRolloutHosts(a.id, [{ nodeId: 'n1', patch: { rollback: 'maybe' as never } }]), 'invalid_argument');
      await expectFleetError(store().listRollouts({ states: ['nope' as never] }), 'invalid_argument');
      await expectFleetError(store().appendRolloutEvents([{ rolloutId: a.id, at: 1.5, kind: 'x', nodeId: null, message: '' }]), 'invalid_argument');
      expect(await store().getRollout('ro-x')).toBeUndefined();
    });

    it('changes only the fields given: the rollout, hosts in one batch, and finds a node across rollouts by state', async () => {
      const a = rollout('ro-aaaaaaaa', T0);
      const b = rollout('ro-bbbbbbbb', T0 + 1);
      await store().insertRollout(a, [host(a.id, 'n1', 0), host(a.id, 'n2', 1)]);
      await store().insertRollout(b, [host(b.id, 'n1', 0, { state: 'skipped', message: 'offline' })]);
      const steps = [{ name: 'canary', hosts: 1, state: 'done' as const, startedAt: T0, settlingSince: T0 + 5, doneAt: T0 + 9 }];
      await store().updateRollout(a.id, { state: 'paused', step: 1, steps, forgivenFailures: 2, message: 'too many', updatedAt: T0 + 9 });
      expect(await store().getRollout(a.id)).toEqual({ ...a, state: 'paused', step: 1, steps, forgivenFailures: 2, message: 'too many', updatedAt: T0 + 9 });
      await store().updateRollout(a.id, { message: null });
      expect((await store().getRollout(a.id))?.message).toBeNull();
      await expectFleetError(store().updateRollout('ro-missing', { state: 'aborted' }), 'not_found');
      await expectFleetError(store().updateRollout('ro-missing', {}), 'not_found');

      await store().updateRolloutHosts(a.id, [
        {
          nodeId: 'n1',
          patch: { state: 'failed', failedAt: T0 + 3, rollback: 'by-host', fromVersion: '0.2.0', runningVersion: '0.2.0', message: 'x', updatedAt: T0 + 3 },
        },
        { nodeId: 'n2', patch: { state: 'healthy', healthySince: T0 + 4 } },
        { nodeId: 'n-not-there', patch: { state: 'sent' } },
      ]);
      const [n1, n2] = await store().listRolloutHosts(a.id);
      expect(n1).toEqual(
        host(a.id, 'n1', 0, {
          state: 'failed',
          failedAt: T0 + 3,
          rollback: 'by-host',
          fromVersion: '0.2.0',
          runningVersion: '0.2.0',
          message: 'x',
          updatedAt: T0 + 3,
        }),
      );
      expect(n2).toEqual(host(a.id, 'n2', 1, { state: 'healthy', healthySince: T0 + 4 }));
      await store().updateRolloutHosts(a.id, []);

      expect((await store().rolloutHostsOfNode('n1', ['skipped', 'failed'])).map((h) => [h.rolloutId, h.state])).toEqual([
        [a.id, 'failed'],
        [b.id, 'skipped'],
      ]);
      expect(await store().rolloutHostsOfNode('n1', ['sent'])).toEqual([]);
      expect(await store().rolloutHostsOfNode('n1', [])).toEqual([]);
    });

    it('keeps each rollout its own history, oldest first, paged by id', async () => {
      await store().appendRolloutEvents([
        { rolloutId: 'ro-a', at: T0, kind: 'step-started', nodeId: null, message: 'canary started' },
        { rolloutId: 'ro-b', at: T0 + 1, kind: 'step-started', nodeId: null, message: 'other' },
        { rolloutId: 'ro-a', at: T0 + 2, kind: 'host-failed', nodeId: 'n1', message: 'n1 failed: ✗' },
      ]);
      await store().appendRolloutEvents([]);
      const events = await store().listRolloutEvents('ro-a');
      expect(events.map((e) => [e.kind, e.nodeId, e.message, e.at])).toEqual([
        ['step-started', null, 'canary started', T0],
        ['host-failed', 'n1', 'n1 failed: ✗', T0 + 2],
      ]);
      expect((await store().listRolloutEvents('ro-a', events[0]!.id)).map((e) => e.kind)).toEqual(['host-failed']);
      expect(await store().listRolloutEvents('ro-a', 0, 1)).toHaveLength(1);
    });
  });
}

import { describe, expect, it } from 'vitest';
import type { HealthEventInput, HealthFindingRecord, StateMarkRecord } from '../store.js';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { sampleEvent, sampleNode, T0 } from './store-fixtures.js';

const N1 = 'did:key:z6MkHealth1';
const N2 = 'did:key:z6MkHealth2';
const G0 = 'GPU-00000000-aaaa-bbbb-cccc-000000000000';
const G1 = 'GPU-00000001-aaaa-bbbb-cccc-000000000000';

function healthEvent(overrides: Partial<HealthEventInput> = {}): HealthEventInput {
  return {
    at: T0,
    nodeId: N1,
    gpuKey: G0,
    type: 'verdict',
    rule: 'xid-reset-gpu',
    op: null,
    from: 'healthy',
    to: 'unhealthy',
    actor: 'health-engine',
    reason: 'XID 79 (GPU has fallen off the bus)',
    evidence: { line: "NVRM: Xid (PCI:0000:17:00): 79, pid='<unknown>', GPU has fallen off the bus.", values: [1, null, 'ü'] },
    ...overrides,
  };
}

function finding(overrides: Partial<HealthFindingRecord> = {}): HealthFindingRecord {
  return {
    nodeId: N1,
    gpuKey: G0,
    rule: 'xid-reset-gpu',
    verdict: 'unhealthy',
    cause: 'XID 79',
    evidence: { code: 79, lines: ['a', 'b'] },
    since: T0,
    lastMatchAt: T0 + 10,
    ...overrides,
  };
}

function mark(overrides: Partial<StateMarkRecord> = {}): StateMarkRecord {
  return { nodeId: N1, gpuKey: G0, state: 'UNHEALTHY', actor: 'health:xid-reset-gpu', reason: 'XID 79', since: T0, deadline: null, ...overrides };
}

/** Contract cases for node/GPU state marks, health findings and the health timeline (0002_health). */
export function healthContract(store: StoreRef): void {
  describe('health: state changes', () => {
    it('writes the node row, the mark and the timeline record together', async () => {
      await store().insertNode(sampleNode(N1, { adminState: 'active', cordonReason: null }));
      const nodeMark = mark({ gpuKey: null, state: 'DRAINING', actor: 'token:alice', reason: 'kernel upgrade', deadline: T0 + 600_000 });
      const id = await store().applyStateChange({
        nodeId: N1,
        gpuKey: null,
        node: { adminState: 'draining', cordonReason: 'kernel upgrade' },
        mark: nodeMark,
        event: healthEvent({
          gpuKey: null,
          type: 'transition',
          rule: null,
          op: 'drain',
          from: 'READY',
          to: 'DRAINING',
          actor: 'token:alice',
          reason: 'kernel upgrade',
          evidence: null,
        }),
      });
      expect(id).toBeGreaterThan(0);
      const node = await store().getNode(N1);
      expect(node?.adminState).toBe('draining');
      expect(node?.cordonReason).toBe('kernel upgrade');
      expect(await store().listStateMarks()).toEqual([nodeMark]);
      const [event] = await store().listHealthEvents({});
      expect(event).toMatchObject({ id, nodeId: N1, gpuKey: null, type: 'transition', op: 'drain', from: 'READY', to: 'DRAINING', evidence: null });
    });

    it('replaces a mark, removes it with null, and keeps GPU marks apart from the node mark', async () => {
      await store().insertNode(sampleNode(N1));
      const ev = healthEvent({ type: 'transition', op: 'cordon' });
      await store().applyStateChange({ nodeId: N1, gpuKey: G0, mark: mark({ state: 'CORDONED' }), event: ev });
      await store().applyStateChange({ nodeId: N1, gpuKey: G1, mark: mark({ gpuKey: G1, state: 'CORDONED' }), event: ev });
      await store().applyStateChange({ nodeId: N1, gpuKey: G0, mark: mark({ state: 'UNHEALTHY', since: T0 + 5 }), event: ev });
      expect((await store().listStateMarks()).map((m) => `${m.gpuKey}:${m.state}:${m.since - T0}`)).toEqual([`${G0}:UNHEALTHY:5`, `${G1}:CORDONED:0`]);
      await store().applyStateChange({ nodeId: N1, gpuKey: G0, mark: null, event: ev });
      expect((await store().listStateMarks()).map((m) => m.gpuKey)).toEqual([G1]);
      expect(await store().listHealthEvents({})).toHaveLength(4);
    });

    it('writes nothing when the node is unknown or the change is garbage', async () => {
      await expectFleetError(
        store().applyStateChange({
          nodeId: N2,
          gpuKey: null,
          node: { adminState: 'cordoned', cordonReason: null },
          mark: mark({ nodeId: N2, gpuKey: null }),
          event: healthEvent({ nodeId: N2 }),
        }),
        'not_found',
      );
      await store().insertNode(sampleNode(N1));
      const bad: unknown[] = [
        null,
        { nodeId: N1, gpuKey: G0, mark: mark(), event: healthEvent({ type: 'rumour' as never }) },
        { nodeId: N1, gpuKey: G0, mark: mark({ since: 1.5 }), event: healthEvent() },
        { nodeId: N1, gpuKey: G1, mark: mark(), event: healthEvent() }, // mark for another GPU
        { nodeId: N1, gpuKey: null, node: { adminState: 'melting', cordonReason: null }, mark: null, event: healthEvent() },
        { nodeId: '', gpuKey: null, mark: null, event: healthEvent() },
        { nodeId: N1, gpuKey: G0, mark: null, event: healthEvent({ evidence: { n: 1n } }) },
      ];
      for (const change of bad) await expectFleetError(store().applyStateChange(change as never), 'invalid_argument');
      expect(await store().listStateMarks()).toEqual([]);
      expect(await store().listHealthEvents({})).toEqual([]);
      expect((await store().getNode(N1))?.adminState).toBe('active');
    });

    it('accepts every admin state of the state machine', async () => {
      await store().insertNode(sampleNode(N1));
      for (const adminState of ['pending', 'active', 'cordoned', 'draining', 'drained', 'unhealthy', 'decommissioned'] as const) {
        await store().applyStateChange({
          nodeId: N1,
          gpuKey: null,
          node: { adminState, cordonReason: null },
          mark: null,
          event: healthEvent({ type: 'transition' }),
        });
        expect((await store().getNode(N1))?.adminState).toBe(adminState);
      }
    });
  });

  describe('health: findings', () => {
    it('round-trips findings for GPUs and for the node itself, and updates by (node, gpu, rule)', async () => {
      const a = finding();
      const b = finding({ gpuKey: null, rule: 'gpu-missing', verdict: 'degraded', evidence: null });
      await store().saveFindings({ upsert: [a, b], remove: [], events: [healthEvent()] });
      expect(await store().listFindings()).toEqual([b, a]);
      const a2 = finding({ lastMatchAt: T0 + 99, cause: 'XID 79 again', evidence: ['x'] });
      await store().saveFindings({ upsert: [a2], remove: [], events: [] });
      expect(await store().listFindings()).toEqual([b, a2]);
      expect(await store().listHealthEvents({})).toHaveLength(1);
    });

    it('removes only the named finding', async () => {
      await store().saveFindings({
        upsert: [finding(), finding({ rule: 'thermal' }), finding({ gpuKey: null }), finding({ nodeId: N2 })],
        remove: [],
        events: [],
      });
      await store().saveFindings({
        upsert: [],
        remove: [
          { nodeId: N1, gpuKey: G0, rule: 'xid-reset-gpu' },
          { nodeId: N1, gpuKey: G1, rule: 'nothing-here' },
        ],
        events: [healthEvent({ to: 'healthy' })],
      });
      const left = await store().listFindings();
      expect(left.map((f) => `${f.nodeId.slice(-1)}/${f.gpuKey ?? '-'}/${f.rule}`)).toEqual(['1/-/xid-reset-gpu', `1/${G0}/thermal`, `2/${G0}/xid-reset-gpu`]);
    });

    it('refuses garbage and saves none of the change', async () => {
      const bad: unknown[] = [
        { upsert: [finding(), finding({ verdict: 'healthy' as never })], remove: [], events: [] },
        { upsert: [finding({ since: Number.NaN })], remove: [], events: [] },
        { upsert: [finding()], remove: [{ nodeId: N1, gpuKey: 5, rule: 'x' }], events: [] },
        { upsert: [finding()], remove: [], events: [healthEvent({ actor: '' })] },
        { upsert: 'all', remove: [], events: [] },
        null,
      ];
      for (const change of bad) await expectFleetError(store().saveFindings(change as never), 'invalid_argument');
      expect(await store().listFindings()).toEqual([]);
      expect(await store().listHealthEvents({})).toEqual([]);
    });
  });

  describe('health: timeline', () => {
    it('lists newest first with node, nodes, gpu, type and inclusive since filters and a limit', async () => {
      await store().appendHealthEvents([
        healthEvent({ at: T0 + 10, reason: 'a' }),
        healthEvent({ at: T0 + 30, type: 'transition', op: 'cordon', reason: 'b' }),
        healthEvent({ at: T0 + 20, nodeId: N2, gpuKey: G1, reason: 'c' }),
        healthEvent({ at: T0 + 30, nodeId: N2, gpuKey: null, type: 'match', reason: 'd' }),
      ]);
      const reasons = async (q: Parameters<ReturnType<StoreRef>['listHealthEvents']>[0]) => (await store().listHealthEvents(q)).map((e) => e.reason);
      // Equal times: the later-appended record first.
      expect(await reasons({})).toEqual(['d', 'b', 'c', 'a']);
      expect(await reasons({ nodeId: N1 })).toEqual(['b', 'a']);
      expect(await reasons({ nodeIds: [N2] })).toEqual(['d', 'c']);
      expect(await reasons({ nodeIds: [] })).toEqual([]);
      expect(await reasons({ gpuKeys: [G1, '0000:18:00.0'] })).toEqual(['c']);
      expect(await reasons({ type: 'transition' })).toEqual(['b']);
      expect(await reasons({ since: T0 + 20 })).toEqual(['d', 'b', 'c']);
      expect(await reasons({ limit: 1 })).toEqual(['d']);
    });

    it('round-trips every field', async () => {
      const e = healthEvent({ gpuKey: null, rule: null, op: 'clear', from: null, to: null, evidence: 'plain' });
      await store().appendHealthEvents([e]);
      const [got] = await store().listHealthEvents({});
      expect(got).toEqual({ ...e, id: got!.id });
    });

    it('refuses a bad batch or query and appends nothing', async () => {
      await expectFleetError(store().appendHealthEvents([healthEvent(), healthEvent({ at: -1.5 })]), 'invalid_argument');
      await expectFleetError(store().appendHealthEvents('x' as never), 'invalid_argument');
      expect(await store().listHealthEvents({})).toEqual([]);
      await expectFleetError(store().listHealthEvents({ type: 'gossip' as never }), 'invalid_argument');
      await expectFleetError(store().listHealthEvents({ nodeIds: 'n1' as never }), 'invalid_argument');
      await expectFleetError(store().listHealthEvents({ limit: 0 }), 'invalid_argument');
    });
  });

  describe('agent events: node list and GPU filters', () => {
    it('filters by a list of nodes and by GPU UUID or PCI bus id', async () => {
      await store().insertAgentEvents([
        sampleEvent(N1, 1, { gpuUuid: G0, pciBusId: '0000:17:00.0' }),
        sampleEvent(N1, 2, { gpuUuid: null, pciBusId: '0000:18:00.0' }),
        sampleEvent(N2, 1, { gpuUuid: G1, pciBusId: null }),
        sampleEvent(N2, 2, { gpuUuid: null, pciBusId: null }),
      ]);
      const key = async (q: Parameters<ReturnType<StoreRef>['listAgentEvents']>[0]) =>
        (await store().listAgentEvents(q)).map((e) => `${e.nodeId.slice(-1)}:${e.seq}`);
      expect(await key({ nodeIds: [N2] })).toEqual(['2:2', '2:1']);
      expect(await key({ nodeIds: [] })).toEqual([]);
      expect(await key({ gpu: { uuid: G0, pciBusId: null } })).toEqual(['1:1']);
      expect(await key({ gpu: { uuid: G1, pciBusId: '0000:18:00.0' } })).toEqual(['1:2', '2:1']);
      await expectFleetError(store().listAgentEvents({ gpu: { uuid: null, pciBusId: null } }), 'invalid_argument');
    });
  });
}

import { describe, expect, it } from 'vitest';
import { QueryClient } from '@tanstack/react-query';
import type { GpuView, NodeDelta, NodeView } from '@gpufleet/protocol';
import { nodeViewFixture } from '../testing/node-fixture.js';
import { buildHeatmap, heatNodeFromView, HEATMAP_QUERY_KEY, type HeatmapModel } from './heatmap.js';
import { applyNodeBatch, applyNodeDelta, nodeBatchOf, patchHeatmapDeltas } from './live-batch.js';
import type { NodeList } from './types.js';

function gpu(index: number, util: number | null, over: Partial<GpuView> = {}): GpuView {
  return {
    vendor: 'nvidia',
    index,
    uuid: `GPU-${index}`,
    name: 'NVIDIA H100 80GB HBM3',
    pciBusId: `0000:1${index}:00.0`,
    serial: null,
    memoryTotalBytes: 80e9,
    driverVersion: '565.57.01',
    runtimeVersion: '12.7',
    vbiosVersion: null,
    powerLimitW: 700,
    migMode: null,
    migDevices: [],
    eccMode: null,
    sample:
      util === null
        ? null
        : {
            uuid: `GPU-${index}`,
            pciBusId: `0000:1${index}:00.0`,
            index,
            temperatureC: 50,
            memoryTemperatureC: 40,
            utilizationPct: util,
            memoryUtilizationPct: 10,
            memoryUsedBytes: 1e9,
            memoryTotalBytes: 80e9,
            powerDrawW: 200,
            powerLimitW: 700,
            smClockMhz: 1980,
            memClockMhz: 2619,
            fanPct: null,
            eccCorrectedVolatile: 0,
            eccUncorrectedVolatile: 0,
            eccCorrectedAggregate: 0,
            eccUncorrectedAggregate: 0,
            retiredPagesPending: null,
            remappedRowsPending: null,
            remappedRowsFailure: null,
            throttleReasons: [],
          },
    state: 'READY',
    stateChange: null,
    health: { verdict: 'healthy', rule: null, cause: null, since: null },
    ...over,
  };
}

function view(n: number, gpus: GpuView[] = [gpu(0, 10), gpu(1, 20)], over: Partial<NodeView> = {}): NodeView {
  return nodeViewFixture(`did:key:z${n}`, `host-${n}`, {
    gpus,
    host: { cpuPct: 5, load1: 1, load5: 1, load15: 1, memoryUsedBytes: 1, memoryTotalBytes: 2, disks: [{ mount: '/', usedBytes: 1, totalBytes: 2 }], net: [] },
    ...over,
  });
}

function delta(n: number, utils: Array<number | null>, over: Partial<NodeDelta> = {}): NodeDelta {
  return {
    id: `did:key:z${n}`,
    status: 'READY',
    connected: true,
    lastSeenAt: '2025-05-01T12:05:00.000Z',
    sampledAt: 1_746_101_100_000,
    host: { cpuPct: 77, load1: 3, load5: 2, load15: 1, memoryUsedBytes: 9, memoryTotalBytes: 10 },
    gpus: utils.map((u, index) => ({ index, readings: u === null ? null : [u, 5e9, 70, 600] })),
    ...over,
  };
}

const heatmapOf = (views: NodeView[]): HeatmapModel => buildHeatmap(views.map(heatNodeFromView).filter((h) => h !== null));

describe('applyNodeDelta', () => {
  it('puts readings, liveness and verdicts in and keeps what a delta does not carry', () => {
    const v = view(1, [gpu(0, 10, { state: 'CORDONED', stateChange: { by: 'ann', reason: 'fan', at: 'x', drainDeadline: null } }), gpu(1, null)], {
      labels: { team: 'a' },
    });
    const out = applyNodeDelta(
      v,
      delta(1, [90, 33], {
        status: 'OFFLINE',
        connected: false,
        gpus: [
          { index: 0, readings: [90, 5e9, 70, 600], state: 'CORDONED' },
          { index: 1, readings: [33, 1, 2, 3], health: { verdict: 'unknown', rule: null, cause: 'no readings', since: null } },
        ],
      }),
    );
    expect(out.status).toBe('OFFLINE');
    expect(out.connected).toBe(false);
    expect(out.lastSeenAt).toBe('2025-05-01T12:05:00.000Z');
    expect(out.labels).toEqual({ team: 'a' });
    expect(out.facts).toBe(v.facts);
    expect(out.host).toEqual({
      cpuPct: 77,
      load1: 3,
      load5: 2,
      load15: 1,
      memoryUsedBytes: 9,
      memoryTotalBytes: 10,
      disks: [{ mount: '/', usedBytes: 1, totalBytes: 2 }],
      net: [],
    });
    const [g0, g1] = out.gpus;
    expect(g0!.sample).toMatchObject({ utilizationPct: 90, temperatureC: 70, powerDrawW: 600, memoryUsedBytes: 5e9, smClockMhz: 1980 });
    // The same state keeps who set it and why.
    expect(g0!.state).toBe('CORDONED');
    expect(g0!.stateChange?.reason).toBe('fan');
    // A GPU that had no sample gets one, with its own limits and the rest unknown.
    expect(g1!.sample).toMatchObject({ utilizationPct: 33, index: 1, powerLimitW: 700, memoryTotalBytes: 80e9, smClockMhz: null, throttleReasons: [] });
    expect(g1!.health).toEqual({ verdict: 'unknown', rule: null, cause: 'no readings', since: null });
    expect(v.gpus[0]!.sample!.utilizationPct).toBe(10);
  });

  it('reads a left-out state as READY and a left-out health as plainly healthy', () => {
    const v = view(
      1,
      [
        gpu(0, 10, {
          state: 'UNHEALTHY',
          stateChange: { by: 'policy', reason: 'xid', at: 'x', drainDeadline: null },
          health: { verdict: 'unhealthy', rule: 'xid', cause: 'xid 79', since: 'x' },
        }),
      ],
      {
        health: {
          verdict: 'unhealthy',
          rule: 'xid',
          cause: 'xid 79',
          since: 'x',
          findings: [{ gpu: 'GPU-0', rule: 'xid', verdict: 'unhealthy', cause: 'xid 79', since: 'x', lastMatchAt: 'x', evidence: null }],
        },
      },
    );
    const out = applyNodeDelta(v, delta(1, [5]));
    expect(out.gpus[0]!.state).toBe('READY');
    expect(out.gpus[0]!.stateChange).toBeNull();
    expect(out.gpus[0]!.health).toEqual({ verdict: 'healthy', rule: null, cause: null, since: null });
    expect(out.health.verdict).toBe('healthy');
    // Findings wait for a full view.
    expect(out.health.findings).toHaveLength(1);
  });

  it('leaves GPUs alone when the delta does not list the same ones, and clears readings a node no longer has', () => {
    const v = view(1);
    expect(applyNodeDelta(v, delta(1, [50, 60, 70])).gpus).toBe(v.gpus);
    expect(
      applyNodeDelta(v, {
        ...delta(1, [50, 60]),
        gpus: [
          { index: 1, readings: null },
          { index: 0, readings: null },
        ],
      }).gpus,
    ).toBe(v.gpus);
    const silent = applyNodeDelta(v, delta(1, [null, null], { host: null }));
    expect(silent.gpus.map((g) => g.sample)).toEqual([null, null]);
    expect(silent.host).toBeNull();
  });
});

describe('patchHeatmapDeltas', () => {
  it('patches readings, verdicts, states and liveness into the cells in GPU index order', () => {
    // The view lists GPU 1 before GPU 0: the heatmap draws by index, the delta follows the view.
    const m = heatmapOf([view(1, [gpu(1, 20), gpu(0, 10)]), view(2)]);
    const d = delta(1, [], {
      status: 'OFFLINE',
      gpus: [
        { index: 1, readings: [91, 1, 80, 650], state: 'CORDONED', health: { verdict: 'degraded', rule: 'hot', cause: 'hot', since: 'x' } },
        { index: 0, readings: null },
      ],
    });
    const { model, stale } = patchHeatmapDeltas(m, [d]);
    expect(stale).toBe(false);
    const cells = model.nodes[model.position.get('did:key:z1')!]!.cells;
    expect(cells.map((c) => [c.index, c.util, c.temp, c.power, c.health, c.state, c.offline])).toEqual([
      [0, null, null, null, 'healthy', 'READY', true],
      [1, 91, 80, 650, 'degraded', 'CORDONED', true],
    ]);
    // The node's status and when it was last heard from travel too (not taking work, stale readings).
    const seen = Date.parse('2025-05-01T12:05:00.000Z');
    expect(cells.map((c) => [c.nodeStatus, c.lastSeen])).toEqual([
      ['OFFLINE', seen],
      ['OFFLINE', seen],
    ]);
    expect(model.cells.slice(m.start[model.position.get('did:key:z1')!]!, m.start[model.position.get('did:key:z1')!]! + 2)).toEqual(cells);
    // The other node and the old model are untouched; the drawing order is shared.
    expect(model.nodes[model.position.get('did:key:z2')!]).toBe(m.nodes[m.position.get('did:key:z2')!]);
    expect(m.nodes[m.position.get('did:key:z1')!]!.cells[1]!.util).toBe(20);
    expect(model.position).toBe(m.position);
  });

  it('says when a delta names a node or GPUs the model lacks, and returns the same model when nothing fits', () => {
    const m = heatmapOf([view(1)]);
    const unknown = patchHeatmapDeltas(m, [delta(9, [1, 2])]);
    expect(unknown).toEqual({ model: m, stale: true });
    expect(patchHeatmapDeltas(m, [delta(1, [1, 2, 3])]).stale).toBe(true);
    expect(patchHeatmapDeltas(m, []).model).toBe(m);
  });
});

describe('nodeBatchOf', () => {
  it('keeps the well-formed parts of an event and drops the rest', () => {
    expect(nodeBatchOf(null)).toEqual({ items: [], deltas: [], removed: [] });
    expect(nodeBatchOf({ items: 'x', deltas: [{ id: 3 }, { id: 'a', gpus: [] }], removed: ['r', 5] })).toEqual({
      items: [],
      deltas: [{ id: 'a', gpus: [] }],
      removed: ['r'],
    });
  });
});

describe('applyNodeBatch', () => {
  function seeded(): QueryClient {
    const qc = new QueryClient();
    qc.setQueryData<NodeList>(['nodes', 'all'], { items: [view(1), view(2)], total: 2 });
    qc.setQueryData<NodeList>(['nodes', 'page', 'sel', 0], { items: [view(2)], total: 1 });
    qc.setQueryData<NodeList>(['nodes', 'page', 'sel', 200], { items: [view(3)], total: 1 });
    qc.setQueryData(['node', 'host-2'], view(2));
    qc.setQueryData(['node', 'did:key:z2'], view(2));
    qc.setQueryData(HEATMAP_QUERY_KEY, heatmapOf([view(1), view(2), view(3)]));
    return qc;
  }
  const list = (qc: QueryClient, ...key: unknown[]) => qc.getQueryData<NodeList>(key)!;
  const utilOf = (n: NodeView | undefined) => n?.gpus.map((g) => g.sample?.utilizationPct ?? null);

  it('patches deltas into lists, open node pages (by id and hostname) and the heatmap', () => {
    const qc = seeded();
    const untouchedPage = list(qc, 'nodes', 'page', 'sel', 200);
    const res = applyNodeBatch(qc, { items: [], deltas: [delta(2, [88, 99])], removed: [] });
    expect(res.heatmapStale).toBe(false);
    expect(utilOf(list(qc, 'nodes', 'all').items[1])).toEqual([88, 99]);
    expect(utilOf(list(qc, 'nodes', 'all').items[0])).toEqual([10, 20]);
    expect(utilOf(list(qc, 'nodes', 'page', 'sel', 0).items[0])).toEqual([88, 99]);
    // A page the batch does not concern keeps its object (nothing re-renders).
    expect(list(qc, 'nodes', 'page', 'sel', 200)).toBe(untouchedPage);
    expect(utilOf(qc.getQueryData<NodeView>(['node', 'host-2']))).toEqual([88, 99]);
    expect(utilOf(qc.getQueryData<NodeView>(['node', 'did:key:z2']))).toEqual([88, 99]);
    const m = qc.getQueryData<HeatmapModel>(HEATMAP_QUERY_KEY)!;
    expect(m.nodes[m.position.get('did:key:z2')!]!.cells.map((c) => c.util)).toEqual([88, 99]);
  });

  it('drops a delta for a node no list has (no new cache entry), and says the heatmap lacks it', () => {
    const qc = seeded();
    const all = list(qc, 'nodes', 'all');
    const res = applyNodeBatch(qc, { items: [], deltas: [delta(7, [1, 2])], removed: [] });
    expect(res.heatmapStale).toBe(true);
    expect(list(qc, 'nodes', 'all')).toBe(all);
    expect(qc.getQueryData(['node', 'did:key:z7'])).toBeUndefined();
    expect(qc.getQueryCache().findAll({ queryKey: ['node'] })).toHaveLength(2);
  });

  it('puts full views in as before: replaced where cached, appended to the whole-fleet list only, removed ids gone', () => {
    const qc = seeded();
    const relabelled = view(2, undefined, { labels: { team: 'b' } });
    const fresh = view(4);
    applyNodeBatch(qc, { items: [relabelled, fresh], deltas: [delta(2, [1, 1])], removed: ['did:key:z1'] });
    expect(list(qc, 'nodes', 'all').items.map((n) => n.id)).toEqual(['did:key:z2', 'did:key:z4']);
    expect(list(qc, 'nodes', 'all').total).toBe(2);
    // The full view wins over a delta for the same node in one batch.
    expect(list(qc, 'nodes', 'all').items[0]).toEqual(relabelled);
    expect(list(qc, 'nodes', 'page', 'sel', 0).items).toEqual([relabelled]);
    expect(list(qc, 'nodes', 'page', 'sel', 200).items.map((n) => n.id)).toEqual(['did:key:z3']);
    expect(qc.getQueryData(['node', 'host-2'])).toEqual(relabelled);
    expect(qc.getQueryData(['node', 'did:key:z4'])).toBeUndefined();
    const m = qc.getQueryData<HeatmapModel>(HEATMAP_QUERY_KEY)!;
    expect(m.nodes.map((n) => n.hostname)).toEqual(['host-2', 'host-3', 'host-4']);
  });

  it('changes nothing for an empty batch', () => {
    const qc = seeded();
    const before = qc.getQueryData(HEATMAP_QUERY_KEY);
    expect(applyNodeBatch(qc, { items: [], deltas: [], removed: [] })).toEqual({ heatmapStale: false });
    expect(qc.getQueryData(HEATMAP_QUERY_KEY)).toBe(before);
  });
});

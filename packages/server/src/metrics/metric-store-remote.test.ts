import { describe, expect, it } from 'vitest';
import { emptyGpuSnapshot, gpuSampleOf, type MetricsBody } from '@gpufleet/protocol';
import { MetricStore } from './metric-store.js';

const T0 = 1_767_000_000_000;
const body = (ts: number, util = 50): MetricsBody => ({
  ts,
  host: { cpuPct: 10, load1: 1, load5: 1, load15: 1, memoryUsedBytes: 1, memoryTotalBytes: 2, disks: [], net: [] },
  gpus: [{ ...gpuSampleOf(emptyGpuSnapshot('nvidia', 0)), uuid: 'GPU-1', utilizationPct: util }],
});

describe('MetricStore: nodes held by another replica', () => {
  it('keeps only the latest sample of a remote node: no rings, no history', () => {
    const m = new MetricStore();
    m.noteRemote('n1', body(T0));
    m.noteRemote('n1', body(T0 + 10_000, 70));
    expect(m.latest('n1')?.ts).toBe(T0 + 10_000);
    expect(m.hasHistory('n1')).toBe(false);
    expect(m.query('n1').series).toEqual([]);
    expect(m.stats()).toMatchObject({ nodes: 0, bytes: 0, remoteNodes: 1 });
  });

  it('refuses older and garbage remote samples, counting them', () => {
    const m = new MetricStore();
    m.noteRemote('n1', body(T0 + 10_000));
    m.noteRemote('n1', body(T0));
    m.noteRemote('n1', { ts: 'soon' } as unknown as MetricsBody);
    m.noteRemote('n1', null as unknown as MetricsBody);
    expect(m.latest('n1')?.ts).toBe(T0 + 10_000);
    expect(m.stats()).toMatchObject({ droppedOutOfOrder: 1, droppedInvalid: 2 });
  });

  it('answers the newer of its own and the remote latest for a node that moved, and drops the remote one when the node comes back', () => {
    const m = new MetricStore();
    m.ingest('n1', body(T0));
    m.noteRemote('n1', body(T0 + 10_000, 90)); // the node moved to another replica
    expect(m.latest('n1')?.gpus[0]?.utilizationPct).toBe(90);
    expect(m.hasHistory('n1')).toBe(true); // what it saw itself stays until retention prunes it
    m.ingest('n1', body(T0 + 20_000, 30)); // and came back
    expect(m.latest('n1')?.gpus[0]?.utilizationPct).toBe(30);
    expect(m.stats().remoteNodes).toBe(0);
  });

  it('prunes remote samples older than the retention and forgets them with the node', () => {
    const m = new MetricStore({ retentionMs: 60_000 });
    m.noteRemote('old', body(T0));
    m.noteRemote('new', body(T0 + 100_000));
    m.prune(T0 + 120_000);
    expect(m.latest('old')).toBeNull();
    expect(m.latest('new')).not.toBeNull();
    m.dropNode('new');
    expect(m.latest('new')).toBeNull();
  });
});

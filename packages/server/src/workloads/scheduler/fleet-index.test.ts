import { describe, expect, it } from 'vitest';
import { ClaimTable } from '../claims/claim-table.js';
import { hold, testNode } from './__tests__/sched-fixtures.js';
import { FleetIndex, type GpuKind } from './fleet-index.js';
import { gpuNeedOf } from './gpu-need.js';
import { IndexedSet } from './indexed-set.js';
import { countJobByLabel } from './job-label-counts.js';

/** Node ids per tier of a kind. */
function tiers(kind: GpuKind): Record<number, string[]> {
  const out: Record<number, string[]> = {};
  kind.tiers.forEach((set, f) => {
    if (set.size > 0) out[f] = [...set].map((e) => e.node.id).sort();
  });
  return out;
}

function h100(index: FleetIndex): GpuKind {
  const kinds = index.kindsFor(gpuNeedOf({ gpus: 1, gpu_model: ['H100'] }));
  expect(kinds).toHaveLength(1);
  return kinds[0]!;
}

describe('IndexedSet', () => {
  it('adds, deletes by swapping the last member in, and reads every slot', () => {
    const s = new IndexedSet<string>();
    for (const x of ['a', 'b', 'c', 'd']) s.add(x);
    s.add('b');
    expect(s.size).toBe(4);
    expect(s.delete('b')).toBe(true);
    expect(s.delete('b')).toBe(false);
    expect([s.at(0), s.at(1), s.at(2)]).toEqual(['a', 'd', 'c']);
    expect(s.has('d')).toBe(true);
    s.delete('c');
    expect([...s]).toEqual(['a', 'd']);
  });
});

describe('FleetIndex', () => {
  it('files READY nodes by free GPUs per kind, following the claim table', () => {
    const claims = new ClaimTable();
    const index = new FleetIndex({ claims });
    index.upsert(testNode('a'));
    index.upsert(testNode('b', { gpus: 4 }));
    index.upsert(testNode('off', { state: 'OFFLINE' }));
    expect(tiers(h100(index))).toEqual({ 4: ['b'], 8: ['a'] });
    hold(claims, 'a', [0, 1, 2], 'x');
    expect(tiers(h100(index))).toEqual({ 4: ['b'], 5: ['a'] });
    hold(claims, 'b', [0, 1, 2, 3], 'y');
    expect(tiers(h100(index))).toEqual({ 5: ['a'] });
    claims.release('y');
    claims.release('x');
    expect(tiers(h100(index))).toEqual({ 4: ['b'], 8: ['a'] });
    expect([...index.readyNodes].map((e) => e.node.id).sort()).toEqual(['a', 'b']);
  });

  it('re-files a node on upsert (state, GPU health) and forgets it on remove', () => {
    const index = new FleetIndex();
    index.upsert(testNode('a'));
    index.upsert(testNode('a', { gpuState: (i) => (i < 3 ? 'UNHEALTHY' : 'READY') }));
    expect(tiers(h100(index))).toEqual({ 5: ['a'] });
    index.upsert(testNode('a', { state: 'CORDONED' }));
    expect(tiers(h100(index))).toEqual({});
    expect(index.readyNodes.size).toBe(0);
    index.upsert(testNode('a'));
    expect(index.remove('a')).toBe(true);
    expect(index.remove('a')).toBe(false);
    expect(tiers(h100(index))).toEqual({});
    expect(index.size).toBe(0);
    expect(index.get('a')).toBeUndefined();
  });

  it('looks nodes up by id or hostname, following a hostname change', () => {
    const index = new FleetIndex();
    index.upsert(testNode('a'));
    expect(index.lookup('host-a')?.node.id).toBe('a');
    index.upsert({ ...testNode('a'), hostname: 'renamed' });
    expect(index.lookup('host-a')).toBeUndefined();
    expect(index.lookup('renamed')?.node.id).toBe('a');
    expect(index.lookup('a')?.node.hostname).toBe('renamed');
  });

  it('keeps one kind per vendor, model and memory, and caches the kinds a need accepts', () => {
    const index = new FleetIndex();
    index.upsert(testNode('h', { model: 'NVIDIA H100 80GB HBM3' }));
    index.upsert(testNode('a40', { model: 'NVIDIA A100-SXM4-40GB', memoryGiB: 40 }));
    index.upsert(testNode('a80', { model: 'NVIDIA A100-SXM4-80GB', memoryGiB: 80 }));
    index.upsert(testNode('mi', { vendor: 'amd', model: 'AMD Instinct MI300X', memoryGiB: 192 }));
    const names = (need: Parameters<typeof gpuNeedOf>[0]) =>
      index
        .kindsFor(gpuNeedOf(need))
        .map((k) => k.name)
        .sort();
    expect(names({ gpus: 1, gpu_model: ['a100'] })).toEqual(['NVIDIA A100-SXM4-40GB', 'NVIDIA A100-SXM4-80GB']);
    expect(names({ gpus: 1, gpu_memory_min: 80 * 2 ** 30 })).toEqual(['AMD Instinct MI300X', 'NVIDIA A100-SXM4-80GB', 'NVIDIA H100 80GB HBM3']);
    expect(names({ gpus: 1, gpu_vendor: 'amd' })).toEqual(['AMD Instinct MI300X']);
    // A kind that appears later is seen by the next ask.
    index.upsert(testNode('l4', { model: 'NVIDIA L4', memoryGiB: 24 }));
    expect(names({ gpus: 1, gpu_vendor: 'nvidia', gpu_model: ['L4'] })).toEqual(['NVIDIA L4']);
  });

  it('keeps GPUs in index order and each index once, whatever the inventory sends', () => {
    const index = new FleetIndex();
    const node = testNode('a', { gpus: 3 });
    index.upsert({ ...node, gpus: [node.gpus[2]!, node.gpus[0]!, { ...node.gpus[0]!, uuid: 'dup' }, node.gpus[1]!] });
    expect(index.get('a')!.gpus.map((g) => [g.index, g.uuid])).toEqual([
      [0, 'GPU-a-0'],
      [1, 'GPU-a-1'],
      [2, 'GPU-a-2'],
    ]);
  });

  it('reads garbage totals as unknown and drops GPUs without a whole index', () => {
    const index = new FleetIndex();
    const node = testNode('a', { gpus: 2 });
    index.upsert({
      ...node,
      cpuCores: Number.NaN,
      memoryBytes: -5,
      gpus: [...node.gpus, { ...node.gpus[0]!, index: Number.NaN }, { ...node.gpus[1]!, index: -1 }, { ...node.gpus[1]!, index: 2.5 }],
    });
    const kept = index.get('a')!;
    expect([kept.cpuCores, kept.memoryBytes, kept.gpus.map((g) => g.index)]).toEqual([null, null, [0, 1]]);
    index.upsert({ ...node, cpuCores: Number.POSITIVE_INFINITY, memoryBytes: 0 });
    expect([index.get('a')!.cpuCores, index.get('a')!.memoryBytes]).toEqual([null, null]);
  });

  it('reads PCI places in every spelling, and none from garbage', () => {
    const index = new FleetIndex();
    const spellings = ['00000000:17:00.0', '0000:3A:00.0', 'PCI:0001:b1:00', '9e:00.0', 'not a bus id', null];
    index.upsert(testNode('a', { gpus: spellings.length, pci: (i) => spellings[i]! }));
    expect(index.entry('a')!.pci).toEqual([
      { domain: '0000', bus: 0x17 },
      { domain: '0000', bus: 0x3a },
      { domain: '0001', bus: 0xb1 },
      { domain: '0000', bus: 0x9e },
      null,
      null,
    ]);
  });

  it('keeps spread-over-a-label counts current through claims, releases, relabels and reloads', () => {
    const claims = new ClaimTable();
    const index = new FleetIndex({ claims });
    for (let i = 0; i < 6; i++) index.upsert(testNode(`n${i}`, { labels: i < 5 ? { rack: `r${i % 2}` } : {} }));
    const kept = () => Object.fromEntries(index.jobLabelCounts('llama', 'rack', claims)!);
    const fresh = () => Object.fromEntries(countJobByLabel(index, claims, 'llama', 'rack'));
    hold(claims, 'n0', [0], 'a', 'llama');
    expect(kept()).toEqual({ r0: 1 });
    hold(claims, 'n1', [0], 'b', 'llama');
    hold(claims, 'n2', [0], 'c', 'llama');
    hold(claims, 'n5', [0], 'd', 'llama');
    hold(claims, 'n3', [0], 'x', 'other');
    expect(kept()).toEqual(fresh());
    expect(kept()).toEqual({ r0: 2, r1: 1, '\u0000unlabeled': 1 });
    claims.release('a');
    expect(kept()).toEqual(fresh());
    index.upsert(testNode('n2', { labels: { rack: 'r9' } }));
    expect(kept()).toEqual({ r9: 1, r1: 1, '\u0000unlabeled': 1 });
    claims.load([], []);
    expect(kept()).toEqual({});
    // Claims it does not follow get no kept counts.
    expect(index.jobLabelCounts('llama', 'rack', new ClaimTable())).toBeNull();
  });

  it('stops following the claims when closed', () => {
    const claims = new ClaimTable();
    const index = new FleetIndex({ claims });
    index.upsert(testNode('a'));
    index.close();
    hold(claims, 'a', [0]);
    expect(tiers(h100(index))).toEqual({ 8: ['a'] });
  });
});

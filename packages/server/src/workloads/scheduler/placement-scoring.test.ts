import { describe, expect, it } from 'vitest';
import { hold, requestsFor, testFleet, testJob, testNode } from './__tests__/sched-fixtures.js';

function countBy<T>(items: T[]): Map<T, number> {
  const m = new Map<T, number>();
  for (const x of items) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

describe('binpack', () => {
  it('fills the fullest node that still fits before touching an idle one', () => {
    const { scheduler, claims } = testFleet([testNode('idle'), testNode('busy'), testNode('half')]);
    hold(claims, 'busy', [0, 1, 2, 3, 4, 5]);
    hold(claims, 'half', [0, 1, 2, 3]);
    const r = scheduler.schedule(requestsFor(testJob({ count: 5 })), claims);
    expect(r.placements.map((p) => p.nodeId)).toEqual(['busy', 'busy', 'half', 'half', 'half']);
    expect(r.placements.map((p) => p.score)).toEqual([0.875, 1, 0.625, 0.75, 0.875]);
  });

  it('leaves whole nodes free for a later 8-GPU allocation', () => {
    const { scheduler, claims } = testFleet([testNode('a'), testNode('b')]);
    const job = testJob({ count: 4, groups: { train: { count: 1, resources: { gpus: 8 } } } });
    const r = scheduler.schedule(requestsFor(job), claims);
    expect(r.failures).toEqual([]);
    const byGroup = new Map(r.placements.map((p) => [p.request.group, p.nodeId]));
    expect(new Set(r.placements.filter((p) => p.request.group === 'web').map((p) => p.nodeId)).size).toBe(1);
    expect(byGroup.get('train')).not.toBe(byGroup.get('web'));
  });
});

describe('spread', () => {
  it('puts each allocation where the job has the fewest', () => {
    const { scheduler, claims } = testFleet([testNode('a'), testNode('b'), testNode('c')], { candidates: { spread: 100 } });
    hold(claims, 'a', [0], 'old-0', 'llama');
    const r = scheduler.schedule(requestsFor(testJob({ count: 5, strategy: 'spread' })), claims);
    const counts = countBy(r.placements.map((p) => p.nodeId));
    expect([counts.get('a'), counts.get('b'), counts.get('c')]).toEqual([1, 2, 2]);
    // Other jobs' allocations do not count.
    hold(claims, 'b', [7], 'x', 'other');
    expect(claims.jobAllocsOnNode('llama', 'b')).toBe(0);
  });

  it('spreads over a label: fewest of the job among nodes sharing the value', () => {
    const nodes = [
      testNode('r1a', { labels: { rack: 'r1' } }),
      testNode('r1b', { labels: { rack: 'r1' } }),
      testNode('r2a', { labels: { rack: 'r2' } }),
      testNode('r3a', { labels: { rack: 'r3' } }),
      testNode('none'),
    ];
    const { scheduler, claims } = testFleet(nodes, { candidates: { spread: 100 } });
    hold(claims, 'r1a', [0], 'old-0', 'llama');
    const r = scheduler.schedule(requestsFor(testJob({ count: 7, strategy: 'spread', spread: 'rack' })), claims);
    const racks = countBy(r.placements.map((p) => nodes.find((n) => n.id === p.nodeId)!.labels.rack ?? 'none'));
    // With the one already on r1: two per value (a node without the label is a value of its own).
    expect(Object.fromEntries(racks)).toEqual({ r1: 1, r2: 2, r3: 2, none: 2 });
    // Within r1 the second allocation goes to the node the job is not on yet.
    expect(r.placements.find((p) => p.nodeId.startsWith('r1'))!.nodeId).toBe('r1b');
  });

  it('spreads over a label across plans, one allocation each, with the claims applied in between', () => {
    // Rack r0 has ten nodes, r1 and r2 one each: only the rack counts keep r0 from taking most.
    const rackOf = (i: number) => (i < 10 ? 'r0' : i === 10 ? 'r1' : 'r2');
    const nodes = Array.from({ length: 12 }, (_, i) => testNode(`n${i}`, { labels: { rack: rackOf(i) } }));
    const { scheduler, claims } = testFleet(nodes, { candidates: { spread: 100 } });
    const job = testJob({ count: 6, strategy: 'spread', spread: 'rack' });
    const racks: string[] = [];
    for (const request of requestsFor(job)) {
      const [p] = scheduler.schedule([request], claims).placements;
      hold(
        claims,
        p!.nodeId,
        p!.gpus.map((g) => g.index),
        `a${request.index}`,
        'llama',
      );
      racks.push(rackOf(Number(p!.nodeId.slice(1))));
    }
    expect(Object.fromEntries(countBy(racks))).toEqual({ r0: 2, r1: 2, r2: 2 });
  });

  it('spreads evenly over racks on a fleet larger than the sample', () => {
    const nodes = Array.from({ length: 400 }, (_, i) => testNode(`n${i}`, { labels: { rack: `r${i % 10}` } }));
    const { scheduler, claims } = testFleet(nodes);
    const r = scheduler.schedule(requestsFor(testJob({ count: 100, strategy: 'spread', spread: 'rack' })), claims);
    expect(r.placements).toHaveLength(100);
    const perRack = [...countBy(r.placements.map((p) => nodes.find((n) => n.id === p.nodeId)!.labels.rack)).values()];
    expect(Math.max(...perRack) - Math.min(...perRack)).toBeLessThanOrEqual(2);
    expect(new Set(r.placements.map((p) => p.nodeId)).size).toBe(100);
  });
});

describe('PCI locality for multi-GPU allocations', () => {
  it('chooses GPUs on one root over scattered ones on the same node', () => {
    // GPUs 0-3 on domain 0000 buses 17..1a, 4-7 on buses b1..b4; 1 and 2 taken.
    const pci = (i: number) => (i < 4 ? `0000:${(0x17 + i).toString(16)}:00.0` : `0000:${(0xb1 + i - 4).toString(16)}:00.0`);
    const { scheduler, claims } = testFleet([testNode('n', { pci })]);
    hold(claims, 'n', [1, 2]);
    const r = scheduler.schedule(requestsFor(testJob({ resources: { gpus: 3 } })), claims);
    expect(r.placements[0]!.gpus.map((g) => g.index)).toEqual([4, 5, 6]);
  });

  it('counts GPUs on one domain and bus as one root', () => {
    const pci = (i: number) => (i % 2 === 0 ? `00000000:3A:0${i}.0` : `0001:17:00.0`.replace('17', (0x20 + i * 0x20).toString(16)));
    const { scheduler, claims } = testFleet([testNode('n', { pci })]);
    const r = scheduler.schedule(requestsFor(testJob({ resources: { gpus: 4 } })), claims);
    expect(r.placements[0]!.gpus.map((g) => g.index)).toEqual([0, 2, 4, 6]);
    expect(r.placements[0]!.score).toBeCloseTo(0.5 + 0.1, 5);
  });

  it('prefers the node whose free GPUs share a root when packing is equal', () => {
    const scattered = (i: number) => `000${i}:17:00.0`;
    const together = (i: number) => (i < 4 ? '0000:17:00.0'.replace(':00.0', `:0${i}.0`) : `000${i}:99:00.0`);
    const { scheduler, claims } = testFleet([testNode('scattered', { pci: scattered, gpus: 4 }), testNode('together', { pci: together, gpus: 4 })], {
      candidates: { binpack: 10 },
    });
    const r = scheduler.schedule(requestsFor(testJob({ resources: { gpus: 2 } })), claims);
    expect(r.placements[0]!.nodeId).toBe('together');
  });

  it('falls back to the lowest indexes when the inventory has no PCI ids', () => {
    const { scheduler, claims } = testFleet([testNode('n', { pci: (i) => (i === 3 ? 'garbage' : null) })]);
    hold(claims, 'n', [0]);
    const r = scheduler.schedule(requestsFor(testJob({ resources: { gpus: 2 } })), claims);
    expect(r.placements[0]!.gpus).toEqual([
      { index: 1, uuid: 'GPU-n-1' },
      { index: 2, uuid: 'GPU-n-2' },
    ]);
  });
});

describe('rejection messages', () => {
  it('counts every reason over the nodes evaluated, in one sentence', () => {
    const nodes = [
      testNode('busy1'),
      testNode('busy2'),
      testNode('busy3'),
      testNode('c1', { state: 'CORDONED' }),
      testNode('c2', { state: 'CORDONED' }),
      testNode('spot', { labels: { spot: 'true' } }),
    ];
    const { scheduler, claims } = testFleet(nodes);
    for (const id of ['busy1', 'busy2', 'busy3']) hold(claims, id, [0, 1, 2, 3, 4, 5, 6, 7]);
    const r = scheduler.schedule(requestsFor(testJob({ count: 2, constraints: ['!spot'], resources: { gpu_model: ['H100'] } })), claims);
    expect(r.failures).toEqual([
      {
        group: 'web',
        unplaced: 2,
        rejections: [
          { reason: 'gpus_busy', nodes: 3, message: '3 nodes lack a free H100 GPU' },
          { reason: 'not_ready', nodes: 2, message: '2 nodes are cordoned' },
          { reason: 'constraint', nodes: 1, message: '1 node fails `!spot`' },
        ],
        message: '3 nodes lack a free H100 GPU, 2 are cordoned, 1 fails `!spot`',
      },
    ]);
  });

  it('explains each group on its own, and says when the fleet is empty', () => {
    const { scheduler, claims } = testFleet([testNode('n', { gpus: 2 })]);
    const job = testJob({ resources: { gpus: 4 }, groups: { side: { count: 2, resources: { gpus: 1 } } } });
    const r = scheduler.schedule(requestsFor(job), claims);
    expect(r.placements.map((p) => p.request.group)).toEqual(['side', 'side']);
    expect(r.failures.map((f) => [f.group, f.unplaced, f.message])).toEqual([['web', 1, '1 node has fewer than 4 GPUs']]);
    const empty = testFleet([]);
    expect(empty.scheduler.schedule(requestsFor(testJob()), empty.claims).failures[0]!.message).toBe('the fleet has no nodes');
  });
});

describe('sampling instead of scanning', () => {
  it('evaluates a bounded sample per placement on a large fleet', () => {
    const nodes = Array.from({ length: 3000 }, (_, i) => testNode(`n${i}`));
    const { scheduler, claims } = testFleet(nodes);
    const r = scheduler.schedule(requestsFor(testJob({ count: 50, strategy: 'spread' })), claims);
    expect(r.placements).toHaveLength(50);
    expect(r.nodesEvaluated).toBeLessThanOrEqual(50 * 64);
  });

  it('finds the few feasible nodes a sample misses by scanning, and then explains the rest', () => {
    const nodes = Array.from({ length: 3000 }, (_, i) => testNode(`n${i}`, { labels: { region: i % 1000 === 0 ? 'eu' : 'us' } }));
    const { scheduler, claims } = testFleet(nodes);
    const r = scheduler.schedule(requestsFor(testJob({ count: 4, resources: { gpus: 8 }, constraints: ['region=eu'] })), claims);
    expect(r.placements.map((p) => p.nodeId).sort()).toEqual(['n0', 'n1000', 'n2000']);
    expect(r.failures[0]!.message).toBe('2997 nodes fail `region=eu`, 3 lack 8 free GPUs');
  });

  it('is deterministic for one seed', () => {
    const nodes = Array.from({ length: 500 }, (_, i) => testNode(`n${i}`, { gpus: 4 }));
    const run = () => {
      const { scheduler, claims } = testFleet(nodes);
      return scheduler.schedule(requestsFor(testJob({ count: 40, strategy: 'spread' })), claims).placements.map((p) => p.nodeId);
    };
    expect(run()).toEqual(run());
  });
});

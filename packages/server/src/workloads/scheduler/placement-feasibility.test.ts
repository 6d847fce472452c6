import { FleetError } from '@gpufleet/protocol';
import { describe, expect, it } from 'vitest';
import { GiB, hold, requestsFor, testFleet, testJob, testNode } from './__tests__/sched-fixtures.js';

describe('scheduler feasibility: job constraints', () => {
  // [constraint, labels of the node that satisfies it, labels of the node that does not]
  const cases: Array<[string, Record<string, string>, Record<string, string>]> = [
    ['region=eu', { region: 'eu' }, { region: 'us' }],
    ['region==eu', { region: 'eu' }, { region: 'us' }],
    ['region!=us', { region: 'eu' }, { region: 'us' }],
    ['region in (eu,ap)', { region: 'ap' }, { region: 'us' }],
    ['region notin (us,cn)', { region: 'eu' }, { region: 'cn' }],
    ['region notin (us)', {}, { region: 'us' }],
    ['gpu.fast', { 'gpu.fast': 'yes' }, {}],
    ['!spot', {}, { spot: 'true' }],
    ['region=eu,!spot', { region: 'eu' }, { region: 'eu', spot: '' }],
  ];
  for (const [constraint, good, bad] of cases) {
    it(`\`${constraint}\` places on the node that matches and names itself when none does`, () => {
      const job = testJob({ constraints: [constraint] });
      const { scheduler, claims } = testFleet([testNode('bad', { labels: bad }), testNode('good', { labels: good })]);
      const placed = scheduler.schedule(requestsFor(job), claims);
      expect(placed.placements.map((p) => p.nodeId)).toEqual(['good']);
      expect(placed.failures).toEqual([]);

      const alone = testFleet([testNode('bad', { labels: bad })]);
      const failed = alone.scheduler.schedule(requestsFor(job), alone.claims);
      expect(failed.placements).toEqual([]);
      expect(failed.failures).toHaveLength(1);
      expect(failed.failures[0]!.rejections).toEqual([{ reason: 'constraint', nodes: 1, message: expect.stringContaining('1 node fails `') }]);
      // The sentence names the requirement that failed (one of a comma-joined pair).
      expect(failed.failures[0]!.message).toMatch(/^1 node fails `[^`]+`$/);
    });
  }

  it('names the first failing constraint of several', () => {
    const job = testJob({ constraints: ['region in (eu,us)', '!spot'] });
    const { scheduler, claims } = testFleet([testNode('a', { labels: { region: 'eu', spot: 'true' } }), testNode('b', { labels: { region: 'cn' } })]);
    const r = scheduler.schedule(requestsFor(job), claims);
    expect(r.failures[0]!.message).toBe('1 node fails `region in (eu,us)`, 1 fails `!spot`');
  });
});

describe('scheduler feasibility: GPUs', () => {
  it('matches the vendor', () => {
    const job = testJob({ resources: { gpu_vendor: 'amd' } });
    const { scheduler, claims } = testFleet([testNode('nv'), testNode('amd', { vendor: 'amd', model: 'AMD Instinct MI300X' })]);
    expect(scheduler.schedule(requestsFor(job), claims).placements[0]!.nodeId).toBe('amd');
    const alone = testFleet([testNode('nv')]);
    expect(alone.scheduler.schedule(requestsFor(job), alone.claims).failures[0]!.message).toBe('1 node has no AMD GPUs');
  });

  it('matches a model when the GPU name contains it, ignoring case', () => {
    const job = testJob({ resources: { gpu_model: ['h100', 'A100-80GB'] } });
    const { scheduler, claims } = testFleet([testNode('l4', { model: 'NVIDIA L4' }), testNode('a100', { model: 'NVIDIA A100-80GB-PCIe' })]);
    expect(scheduler.schedule(requestsFor(job), claims).placements[0]!.nodeId).toBe('a100');
    const none = testFleet([testNode('l4', { model: 'NVIDIA L4' }), testNode('unnamed', { model: null })]);
    const r = none.scheduler.schedule(requestsFor(job), none.claims);
    expect(r.failures[0]!.rejections).toEqual([{ reason: 'gpu_model', nodes: 2, message: '2 nodes have no h100 or A100-80GB GPUs' }]);
  });

  it('wants each GPU to have at least gpu_memory_min; unknown memory is not enough', () => {
    const job = testJob({ resources: { gpu_memory_min: 48 * GiB } });
    const { scheduler, claims } = testFleet([
      testNode('small', { memoryGiB: 24 }),
      testNode('unknown', { memoryGiB: null }),
      testNode('big', { memoryGiB: 48 }),
    ]);
    expect(scheduler.schedule(requestsFor(job), claims).placements[0]!.nodeId).toBe('big');
    const none = testFleet([testNode('small', { memoryGiB: 24 }), testNode('unknown', { memoryGiB: null })]);
    expect(none.scheduler.schedule(requestsFor(job), none.claims).failures[0]!.message).toBe('2 nodes have no GPUs with 48 GiB of memory');
  });

  it('assigns only READY GPUs and says when unhealthy or cordoned ones leave too few', () => {
    const gpuState = (i: number) => (i === 5 ? 'READY' : i % 2 === 0 ? 'UNHEALTHY' : 'CORDONED');
    const { scheduler, claims } = testFleet([testNode('n', { gpuState })]);
    const one = scheduler.schedule(requestsFor(testJob()), claims);
    expect(one.placements[0]!.gpus).toEqual([{ index: 5, uuid: 'GPU-n-5' }]);
    const two = scheduler.schedule(requestsFor(testJob({ resources: { gpus: 2 } })), claims);
    expect(two.failures[0]!.rejections.map((x) => x.reason)).toEqual(['gpus_unhealthy']);
    expect(two.failures[0]!.message).toBe('1 node has too few healthy GPUs (unhealthy or cordoned)');
  });

  it('never hands out a GPU the claims hold, and tells busy from too few', () => {
    const { scheduler, claims } = testFleet([testNode('busy', { gpus: 2 }), testNode('small', { gpus: 2 })]);
    hold(claims, 'busy', [0, 1]);
    const r = scheduler.schedule(requestsFor(testJob({ resources: { gpus: 3, gpu_model: ['H100'] } })), claims);
    expect(r.failures[0]!.message).toBe('2 nodes have fewer than 3 H100 GPUs');
    const single = scheduler.schedule(requestsFor(testJob({ count: 3, resources: { gpu_model: ['H100'] } })), claims);
    expect(single.placements.map((p) => `${p.nodeId}:${p.gpus[0]!.index}`)).toEqual(['small:0', 'small:1']);
    expect(single.failures[0]).toMatchObject({ group: 'web', unplaced: 1, message: '2 nodes lack a free H100 GPU' });
  });

  it('gives two requests of one batch different GPUs', () => {
    const { scheduler, claims } = testFleet([testNode('n', { gpus: 4 })]);
    const r = scheduler.schedule(requestsFor(testJob({ count: 2, resources: { gpus: 2 } })), claims);
    const taken = r.placements.flatMap((p) => p.gpus.map((g) => g.index));
    expect(taken.sort()).toEqual([0, 1, 2, 3]);
  });

  it('places CPU-only allocations (gpus: 0) on READY nodes, GPUs or not', () => {
    const { scheduler, claims } = testFleet([testNode('cpu', { gpus: 0 }), testNode('off', { gpus: 0, state: 'OFFLINE' })]);
    const r = scheduler.schedule(requestsFor(testJob({ count: 2, resources: { gpus: 0, cpu: 16 } })), claims);
    expect(r.placements.map((p) => [p.nodeId, p.gpus, p.cpu])).toEqual([
      ['cpu', [], 16],
      ['cpu', [], 16],
    ]);
  });
});

describe('scheduler feasibility: CPU and memory', () => {
  it('counts CPU reserved by running allocations and by the batch', () => {
    const { scheduler, claims } = testFleet([testNode('n', { cpuCores: 32 })]);
    hold(claims, 'n', [0], 'a1', 'other', 12);
    const r = scheduler.schedule(requestsFor(testJob({ count: 3, resources: { cpu: 8 } })), claims);
    expect(r.placements).toHaveLength(2);
    expect(r.failures[0]!.message).toBe('1 node lacks 8 free CPU cores');
  });

  it('refuses a node that does not report its CPU cores or memory when they are asked for', () => {
    const { scheduler, claims } = testFleet([testNode('a', { cpuCores: null, memoryBytes: null })]);
    expect(scheduler.schedule(requestsFor(testJob({ resources: { cpu: 1 } })), claims).failures[0]!.message).toBe('1 node does not report its CPU cores');
    expect(scheduler.schedule(requestsFor(testJob({ resources: { memory: GiB } })), claims).failures[0]!.message).toBe('1 node does not report its memory');
    // Not asking for them, it is fine.
    expect(scheduler.schedule(requestsFor(testJob({ count: 2 })), claims).placements).toHaveLength(2);
  });

  it('never finds room in garbage: NaN totals, unknown GPU or node states', () => {
    const weird = testNode('weird', { gpus: 2 });
    const nodes = [
      { ...testNode('nan'), cpuCores: Number.NaN, memoryBytes: Number.NaN },
      { ...weird, gpus: weird.gpus.map((g) => ({ ...g, state: 'ready' as 'READY' })) },
      testNode('lower', { state: 'ready' }),
    ];
    const { scheduler, claims } = testFleet(nodes);
    const r = scheduler.schedule(requestsFor(testJob({ resources: { cpu: 1, memory: GiB } })), claims);
    expect(r.placements).toEqual([]);
    expect(r.failures[0]!.message).toBe("1 node is in state 'ready', 1 has too few healthy GPUs (unhealthy or cordoned), 1 does not report its CPU cores");
  });

  it('counts memory bytes reserved', () => {
    const { scheduler, claims } = testFleet([testNode('n', { memoryBytes: 100 * GiB })]);
    hold(claims, 'n', [0], 'a1', 'other', null, 40 * GiB);
    const r = scheduler.schedule(requestsFor(testJob({ count: 3, resources: { memory: 30 * GiB } })), claims);
    expect(r.placements.map((p) => p.memory)).toEqual([30 * GiB, 30 * GiB]);
    expect(r.failures[0]!.message).toBe('1 node lacks 30 GiB of free memory');
  });
});

describe('scheduler feasibility: node state, pin and avoid', () => {
  for (const state of ['CORDONED', 'DRAINING', 'DRAINED', 'OFFLINE', 'UNHEALTHY', 'PENDING', 'DECOMMISSIONED']) {
    it(`takes nothing on a ${state} node`, () => {
      const { scheduler, claims } = testFleet([testNode('n', { state })]);
      const r = scheduler.schedule(requestsFor(testJob()), claims);
      expect(r.placements).toEqual([]);
      expect(r.failures[0]!.rejections).toEqual([{ reason: 'not_ready', nodes: 1, message: `1 node is ${state.toLowerCase()}` }]);
    });
  }

  it('puts a pinned allocation on its node, by hostname or id, even where binpack would not', () => {
    const job = testJob({ count: 2, pin: { 'web-0': 'host-empty', 'web-1': 'full' } });
    const { scheduler, claims } = testFleet([testNode('full'), testNode('empty')]);
    hold(claims, 'full', [0, 1, 2, 3, 4, 5]);
    const r = scheduler.schedule(requestsFor(job), claims);
    expect(r.placements.map((p) => [p.request.index, p.nodeId])).toEqual([
      [0, 'empty'],
      [1, 'full'],
    ]);
  });

  it('explains a pinned allocation whose node is unknown or cannot take it', () => {
    const job = testJob({ count: 3, pin: { 'web-0': 'nowhere', 'web-1': 'c' } });
    const { scheduler, claims } = testFleet([testNode('c', { state: 'CORDONED' }), testNode('ok')]);
    const r = scheduler.schedule(requestsFor(job), claims);
    expect(r.placements.map((p) => p.nodeId)).toEqual(['ok']);
    expect(r.failures[0]!.unplaced).toBe(2);
    expect(r.failures[0]!.message).toBe("web-0's pinned node nowhere is not in the fleet, web-1's pinned node c is cordoned");
  });

  it('avoids the nodes a request names, by id or hostname', () => {
    const { scheduler, claims } = testFleet([testNode('lost'), testNode('other')]);
    expect(scheduler.schedule(requestsFor(testJob(), ['lost']), claims).placements[0]!.nodeId).toBe('other');
    expect(scheduler.schedule(requestsFor(testJob(), ['host-lost', 'host-other']), claims).failures[0]!.message).toBe(
      '2 nodes are avoided (the allocation is being moved off them)',
    );
  });

  it('refuses a request for a group the job does not have', () => {
    const { scheduler, claims } = testFleet([testNode('n')]);
    const job = testJob();
    expect(() => scheduler.schedule([{ job, group: 'nope', index: 0 }], claims)).toThrow(FleetError);
  });
});

import { describe, expect, it } from 'vitest';
import { decideScale, heldScaleUp, type AutoscaleInput } from './autoscale-decision.js';

const MIN = 60_000;
const base: AutoscaleInput = {
  spec: {
    minNodes: 2,
    maxNodes: 10,
    cooldownMs: 10 * MIN,
    autoscaling: { pendingAllocations: true, scaleUpAtPct: 80, scaleDownAtPct: 20, idleForMs: 30 * MIN, maxStep: 3 },
  },
  desired: 4,
  desiredSource: 'autoscale',
  lastScaleUpAt: null,
  lastScaleDownAt: null,
  now: 1_000_000_000,
  size: 4,
  coming: 0,
  pending: { slots: 0, nodes: 0, gpuModel: null },
  allocatedGpus: 16,
  totalGpus: 32,
  idleNodes: 0,
  gpusPerNode: 8,
};
const at = (patch: Partial<AutoscaleInput>): AutoscaleInput => ({ ...base, ...patch });

describe('decideScale', () => {
  const cases: Array<[string, Partial<AutoscaleInput>, { direction: 'up' | 'down'; desired: number; reason: string } | null]> = [
    ['a steady pool stays', {}, null],
    [
      'pending work grows by the nodes it fills',
      { pending: { slots: 5, nodes: 2, gpuModel: 'H100' } },
      { direction: 'up', desired: 6, reason: 'scale up 2: 5 allocations pending, no free H100' },
    ],
    ['nodes already coming count against pending work', { pending: { slots: 5, nodes: 2, gpuModel: null }, coming: 2 }, null],
    [
      'provisions asked for but not yet started count too',
      { pending: { slots: 5, nodes: 3, gpuModel: null }, desired: 5 },
      { direction: 'up', desired: 7, reason: 'scale up 2: 5 allocations pending' },
    ],
    [
      'max_step caps a step',
      { pending: { slots: 40, nodes: 9, gpuModel: null } },
      { direction: 'up', desired: 7, reason: 'scale up 3: 40 allocations pending' },
    ],
    ['max caps the size', { pending: { slots: 40, nodes: 9, gpuModel: null }, desired: 10, size: 10 }, null],
    [
      'max leaves room for one',
      { pending: { slots: 1, nodes: 2, gpuModel: null }, desired: 9, size: 9 },
      { direction: 'up', desired: 10, reason: 'scale up 1: 1 allocation pending' },
    ],
    [
      'pending ignored when pending_allocations is off',
      { pending: { slots: 5, nodes: 2, gpuModel: null }, spec: { ...base.spec, autoscaling: { ...base.spec.autoscaling!, pendingAllocations: false } } },
      null,
    ],
    ['a busy pool grows by one', { allocatedGpus: 28 }, { direction: 'up', desired: 5, reason: 'scale up 1: 88% of 32 GPUs allocated (scale_up_at 80%)' }],
    ['a busy pool with a node coming waits for it', { allocatedGpus: 28, coming: 1 }, null],
    ['the up cooldown holds growth', { pending: { slots: 5, nodes: 2, gpuModel: null }, lastScaleUpAt: base.now - 9 * MIN }, null],
    [
      'after the up cooldown it grows',
      { pending: { slots: 5, nodes: 2, gpuModel: null }, lastScaleUpAt: base.now - 10 * MIN },
      { direction: 'up', desired: 6, reason: 'scale up 2: 5 allocations pending' },
    ],
    [
      'a quiet pool with idle nodes shrinks by them',
      { allocatedGpus: 4, idleNodes: 2 },
      { direction: 'down', desired: 2, reason: 'scale down 2: 2 nodes idle for 30m, 13% of 32 GPUs allocated (scale_down_at 20%)' },
    ],
    ['never below min', { allocatedGpus: 0, idleNodes: 4, desired: 2, size: 2 }, null],
    [
      'down to min at most',
      { allocatedGpus: 0, idleNodes: 4, desired: 3, size: 3 },
      { direction: 'down', desired: 2, reason: 'scale down 1: 4 nodes idle for 30m, 0% of 32 GPUs allocated (scale_down_at 20%)' },
    ],
    ['busy above scale_down_at: no shrink', { allocatedGpus: 8, idleNodes: 2 }, null],
    ['the down cooldown holds shrinking', { allocatedGpus: 0, idleNodes: 2, lastScaleDownAt: base.now - MIN }, null],
    [
      'the up cooldown does not hold shrinking',
      { allocatedGpus: 0, idleNodes: 1, lastScaleUpAt: base.now - MIN },
      { direction: 'down', desired: 3, reason: 'scale down 1: 1 node idle for 30m, 0% of 32 GPUs allocated (scale_down_at 20%)' },
    ],
    ['an operator size is not shrunk', { allocatedGpus: 0, idleNodes: 2, desiredSource: 'manual' }, null],
    ['no shrink while work waits', { allocatedGpus: 0, idleNodes: 2, pending: { slots: 1, nodes: 0, gpuModel: null } }, null],
    ['no shrink while nodes are coming', { allocatedGpus: 0, idleNodes: 2, coming: 1 }, null],
    [
      'no shrink that would cross scale_up_at',
      {
        allocatedGpus: 6,
        idleNodes: 3,
        totalGpus: 32,
        spec: { ...base.spec, autoscaling: { ...base.spec.autoscaling!, scaleDownAtPct: 20, scaleUpAtPct: 30 } },
      },
      { direction: 'down', desired: 3, reason: 'scale down 1: 3 nodes idle for 30m, 19% of 32 GPUs allocated (scale_down_at 20%)' },
    ],
    ['no autoscaling: nothing', { pending: { slots: 5, nodes: 2, gpuModel: null }, spec: { ...base.spec, autoscaling: null } }, null],
  ];
  for (const [name, patch, want] of cases) {
    it(name, () => {
      const got = decideScale(at(patch));
      if (want === null) expect(got).toBeNull();
      else expect(got).toMatchObject(want);
    });
  }
});

describe('heldScaleUp', () => {
  const waiting = { pending: { slots: 3, nodes: 1, gpuModel: null } };
  it('says the pool is at max_nodes', () => {
    expect(heldScaleUp(at({ ...waiting, desired: 10, size: 10 }))).toBe('3 allocations pending; the pool is at max_nodes 10');
  });
  it('says how long the cooldown still holds', () => {
    expect(heldScaleUp(at({ ...waiting, lastScaleUpAt: base.now - 4 * MIN }))).toBe(
      '3 allocations pending; the next scale up waits for the cooldown (6m left)',
    );
  });
  it('nothing when nothing waits, nodes are coming, or growth is possible', () => {
    expect(heldScaleUp(at({}))).toBeNull();
    expect(heldScaleUp(at({ ...waiting, coming: 1 }))).toBeNull();
    expect(heldScaleUp(at(waiting))).toBeNull();
  });
});

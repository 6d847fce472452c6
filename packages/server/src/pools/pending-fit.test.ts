import { describe, expect, it } from 'vitest';
import { assignDemand, nodesFor, slotFits, type NodeTemplate } from './pending-fit.js';
import type { PendingSlots } from './pools-api.js';

const h100: NodeTemplate = { gpus: 8, gpuModel: 'NVIDIA H100 80GB HBM3', gpuMemoryBytes: 80e9, labels: { pool: 'training', region: 'us' } };
const a10: NodeTemplate = { gpus: 1, gpuModel: 'NVIDIA A10', gpuMemoryBytes: 24e9, labels: { pool: 'infer', region: 'eu' } };
const slot = (patch: Partial<PendingSlots> = {}): PendingSlots => ({
  job: 'j',
  group: 'g',
  count: 1,
  gpusPerSlot: 1,
  gpuModels: [],
  gpuMemoryMinBytes: 0,
  constraints: [],
  since: 0,
  ...patch,
});

describe('slotFits', () => {
  const cases: Array<[string, Partial<PendingSlots>, NodeTemplate, boolean]> = [
    ['any GPU', {}, h100, true],
    ['more GPUs than a node has', { gpusPerSlot: 9 }, h100, false],
    ['model matched by part of the name, any case', { gpuModels: ['h100'] }, h100, true],
    ['model not offered', { gpuModels: ['A100'] }, h100, false],
    ['memory floor met', { gpuMemoryMinBytes: 40e9 }, h100, true],
    ['memory floor not met', { gpuMemoryMinBytes: 40e9 }, a10, false],
    ['constraint on a pool label', { constraints: ['region in (us)'] }, h100, true],
    ['negative constraint', { constraints: ['region notin (us)'] }, h100, false],
    ['constraint on a label the node would not have', { constraints: ['spot'] }, h100, false],
    ['an unreadable constraint never fits', { constraints: ['(('] }, h100, false],
  ];
  for (const [name, patch, t, want] of cases) it(name, () => expect(slotFits(slot(patch), t)).toBe(want));
});

describe('nodesFor', () => {
  it('packs each group on its own nodes', () => {
    expect(nodesFor([slot({ count: 5, gpusPerSlot: 3 })], 8)).toBe(3);
    expect(nodesFor([slot({ count: 5, gpusPerSlot: 1 }), slot({ count: 1, gpusPerSlot: 8 })], 8)).toBe(2);
    expect(nodesFor([slot({ count: 2, gpusPerSlot: 16 })], 8)).toBe(0);
  });
});

describe('assignDemand', () => {
  it('gives each group to the first pool by name that takes it and can grow', () => {
    const slots = [slot({ group: 'big', gpuModels: ['H100'] }), slot({ group: 'small' })];
    const got = assignDemand(slots, [
      { pool: 'training', template: h100, canGrow: true },
      { pool: 'infer', template: a10, canGrow: true },
    ]);
    expect(got.get('training')?.map((s) => s.group)).toEqual(['big']);
    expect(got.get('infer')?.map((s) => s.group)).toEqual(['small']);
  });
  it('a pool at max or with no template takes nothing', () => {
    const got = assignDemand(
      [slot()],
      [
        { pool: 'a', template: a10, canGrow: false },
        { pool: 'b', template: null, canGrow: true },
        { pool: 'c', template: h100, canGrow: true },
      ],
    );
    expect([...got.keys()]).toEqual(['c']);
  });
});

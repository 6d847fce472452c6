import { describe, expect, it } from 'vitest';
import { stubGpu } from '../testing/stub-backend.js';
import { GpuChangeTracker } from './gpu-changes.js';

const smiFails = { vendor: 'nvidia' as const, tool: 'nvidia-smi', message: 'NVML: driver not loaded', exitCode: 9 };

describe('GpuChangeTracker', () => {
  it('takes the first readout as the boot inventory without reporting changes', () => {
    const t = new GpuChangeTracker();
    expect(t.observe({ snapshots: [stubGpu(0), stubGpu(1)], failures: [] })).toEqual({ inventoryChanged: false, events: [] });
    expect(t.observe({ snapshots: [stubGpu(0), stubGpu(1)], failures: [] })).toEqual({ inventoryChanged: false, events: [] });
  });

  it('keys GPUs by UUID, not by index: a renumbering is no change', () => {
    const t = new GpuChangeTracker();
    t.observe({ snapshots: [stubGpu(0), stubGpu(1)], failures: [] });
    const swapped = [
      { ...stubGpu(1), index: 0 },
      { ...stubGpu(0), index: 1 },
    ];
    expect(t.observe({ snapshots: swapped, failures: [] }).inventoryChanged).toBe(false);
  });

  it('reports a new GPU as an inventory change only, and a boot GPU leaving as gpu-missing once', () => {
    const t = new GpuChangeTracker();
    t.observe({ snapshots: [stubGpu(0)], failures: [] });
    expect(t.observe({ snapshots: [stubGpu(0), stubGpu(5)], failures: [] })).toEqual({ inventoryChanged: true, events: [] });
    const gone = t.observe({ snapshots: [stubGpu(5)], failures: [] });
    expect(gone.inventoryChanged).toBe(true);
    expect(gone.events).toHaveLength(1);
    expect(gone.events[0]).toMatchObject({ kind: 'gpu-missing', gpuUuid: stubGpu(0).uuid, pciBusId: '0000:18:00.0' });
    expect(gone.events[0]!.message).toBe('GPU 0 (NVIDIA H100 80GB HBM3, 0000:18:00.0) present at start is missing');
    expect(t.observe({ snapshots: [stubGpu(5)], failures: [] }).events).toEqual([]);
    const back = t.observe({ snapshots: [stubGpu(0), stubGpu(5)], failures: [] });
    expect(back.events.map((e) => e.kind)).toEqual(['gpu-returned']);
  });

  it('reports a tool failing and recovering, without calling its hidden GPUs missing', () => {
    const t = new GpuChangeTracker();
    t.observe({ snapshots: [stubGpu(0)], failures: [] });
    const failed = t.observe({ snapshots: [], failures: [smiFails] });
    expect(failed.inventoryChanged).toBe(true);
    expect(failed.events.map((e) => e.kind)).toEqual(['tool-failure']);
    expect(t.observe({ snapshots: [], failures: [{ ...smiFails, message: 'other text' }] })).toEqual({ inventoryChanged: false, events: [] });
    const ok = t.observe({ snapshots: [stubGpu(0)], failures: [] });
    expect(ok.events.map((e) => e.kind)).toEqual(['tool-recovered']);
  });

  it('reports a failure already present at start', () => {
    const t = new GpuChangeTracker();
    expect(t.observe({ snapshots: [], failures: [smiFails] }).events.map((e) => e.kind)).toEqual(['tool-failure']);
  });
});

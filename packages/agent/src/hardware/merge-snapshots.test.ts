import { emptyGpuSnapshot, type GpuSnapshot } from '@gpufleet/protocol';
import { describe, expect, it } from 'vitest';
import { mergeSnapshots } from './merge-snapshots.js';

const gpu = (index: number, fields: Partial<GpuSnapshot>, vendor: GpuSnapshot['vendor'] = 'nvidia'): GpuSnapshot => ({
  ...emptyGpuSnapshot(vendor, index),
  ...fields,
});

const mig = [{ gpuInstanceId: 1, computeInstanceId: 0, uuid: 'MIG-1', profile: '1g.10gb', memoryTotalBytes: 1e10, memoryUsedBytes: 0 }];

describe('mergeSnapshots', () => {
  it('lays non-null fresh readings over the inventory, matched by UUID whatever the order', () => {
    const base = [
      gpu(0, { uuid: 'GPU-a', serial: 'S-A', runtimeVersion: '12.4', temperatureC: 30, migDevices: mig, throttleReasons: ['gpu_idle'] }),
      gpu(1, { uuid: 'GPU-b', serial: 'S-B', temperatureC: 31 }),
    ];
    const fresh = [gpu(1, { uuid: 'GPU-b', temperatureC: 70 }), gpu(0, { uuid: 'GPU-a', temperatureC: 65, throttleReasons: [] })];
    const m = mergeSnapshots(base, fresh);
    expect(m.unmatchedBase).toBe(0);
    expect(m.unmatchedFresh).toBe(0);
    expect(m.merged).toEqual([
      gpu(1, { uuid: 'GPU-b', serial: 'S-B', temperatureC: 70 }),
      // The fast query's empty throttle list is a reading (nothing holds the clocks now); its
      // empty MIG list is not (it cannot list MIG devices).
      gpu(0, { uuid: 'GPU-a', serial: 'S-A', runtimeVersion: '12.4', temperatureC: 65, migDevices: mig, throttleReasons: [] }),
    ]);
  });

  it('matches by PCI bus id across spellings when there is no UUID, and by index only without either', () => {
    const base = [gpu(0, { pciBusId: '0000:41:00.0', name: 'A' }, 'amd'), gpu(1, { name: 'B' }, 'amd')];
    const fresh = [gpu(3, { pciBusId: '00000000:41:00.0', powerDrawW: 100 }, 'amd'), gpu(1, { powerDrawW: 50 }, 'amd')];
    expect(mergeSnapshots(base, fresh).merged).toEqual([
      gpu(3, { pciBusId: '00000000:41:00.0', name: 'A', powerDrawW: 100 }, 'amd'),
      gpu(1, { name: 'B', powerDrawW: 50 }, 'amd'),
    ]);
  });

  it('counts GPUs that appeared or vanished instead of matching them by index', () => {
    const base = [gpu(0, { uuid: 'GPU-a' }), gpu(1, { uuid: 'GPU-b' })];
    const fresh = [gpu(0, { uuid: 'GPU-c', temperatureC: 40 })];
    const m = mergeSnapshots(base, fresh);
    expect(m).toEqual({ merged: [gpu(0, { uuid: 'GPU-c', temperatureC: 40 })], unmatchedFresh: 1, unmatchedBase: 2 });
  });

  it('does not match two different UUIDs through a shared PCI slot', () => {
    const m = mergeSnapshots([gpu(0, { uuid: 'GPU-old', pciBusId: '0000:17:00.0' })], [gpu(0, { uuid: 'GPU-new', pciBusId: '0000:17:00.0' })]);
    expect(m.unmatchedFresh).toBe(1);
    expect(m.unmatchedBase).toBe(1);
    expect(m.merged[0]!.uuid).toBe('GPU-new');
  });

  it('does not match one inventory GPU twice or across vendors', () => {
    const base = [gpu(0, { uuid: 'X' }, 'amd')];
    const m = mergeSnapshots(base, [gpu(0, { uuid: 'X' }, 'nvidia'), gpu(0, { uuid: 'X' }, 'amd'), gpu(0, { uuid: 'X' }, 'amd')]);
    expect(m.unmatchedFresh).toBe(2);
    expect(m.unmatchedBase).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import { gpuUuidForPci, PciGpuMap } from './pci-to-gpu.js';

const gpus = [
  { uuid: 'GPU-aaaa', pciBusId: '00000000:CB:00.0' },
  { uuid: 'GPU-bbbb', pciBusId: '0000:9b:00.0' },
  { uuid: null, pciBusId: '0000:3b:00.0' },
];

describe('gpuUuidForPci', () => {
  it('matches the kernel form (PCI:0000:cb:00) with the nvidia-smi form (00000000:CB:00.0)', () => {
    expect(gpuUuidForPci('0000:cb:00.0', gpus)).toBe('GPU-aaaa');
    expect(gpuUuidForPci('PCI:0000:9b:00', gpus)).toBe('GPU-bbbb');
  });

  it('returns null for unknown addresses, GPUs without a UUID, and garbage', () => {
    expect(gpuUuidForPci('0000:01:00.0', gpus)).toBeNull();
    expect(gpuUuidForPci('0000:3b:00.0', gpus)).toBeNull();
    expect(gpuUuidForPci(null, gpus)).toBeNull();
    expect(gpuUuidForPci('not a pci address', gpus)).toBeNull();
    expect(gpuUuidForPci('0000:cb:00.0', [])).toBeNull();
  });
});

describe('PciGpuMap', () => {
  it('remembers a GPU after it left the inventory (fell off the bus)', () => {
    const map = new PciGpuMap();
    map.update(gpus);
    map.update([gpus[1]!]);
    expect(map.uuidFor('0000:cb:00.0')).toBe('GPU-aaaa');
    expect(map.size).toBe(2);
  });

  it('takes the newer GPU at a reused address', () => {
    const map = new PciGpuMap();
    map.update(gpus);
    map.update([{ uuid: 'GPU-cccc', pciBusId: '0000:cb:00.0' }]);
    expect(map.uuidFor('PCI:0000:cb:00')).toBe('GPU-cccc');
    expect(map.uuidFor(undefined)).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { gpuKey } from './gpu-identity.js';

describe('gpuKey', () => {
  it('uses the UUID when there is one', () => {
    expect(gpuKey({ vendor: 'nvidia', index: 3, uuid: 'GPU-37037c3f-65c8-ec4d-24a9-420204ad8026', pciBusId: '0000:06:00.0' })).toBe(
      'GPU-37037c3f-65c8-ec4d-24a9-420204ad8026',
    );
  });

  it('falls back to the canonical PCI bus id, whatever spelling the tool used', () => {
    expect(gpuKey({ vendor: 'amd', index: 0, uuid: null, pciBusId: '0000:07:00.0' })).toBe('pci:0000:07:00.0');
    expect(gpuKey({ vendor: 'nvidia', index: 0, uuid: '', pciBusId: '00000000:2A:00.0' })).toBe('pci:0000:2a:00.0');
    // Not a bus id the normaliser knows: kept, lower-cased, rather than dropped.
    expect(gpuKey({ vendor: 'huawei', index: 1, uuid: '  ', pciBusId: 'Weird-Bus' })).toBe('pci:weird-bus');
  });

  it('uses vendor and index only when there is neither', () => {
    expect(gpuKey({ vendor: 'huawei', index: 5, uuid: null, pciBusId: null })).toBe('huawei:5');
    expect(gpuKey({ vendor: 'intel', index: 5, uuid: null, pciBusId: '' })).toBe('intel:5');
  });

  it('does not depend on enumeration order when an id is known', () => {
    const a = { vendor: 'nvidia' as const, uuid: 'GPU-a', pciBusId: '0000:17:00.0' };
    expect(gpuKey({ ...a, index: 0 })).toBe(gpuKey({ ...a, index: 7 }));
    const b = { vendor: 'amd' as const, uuid: null, pciBusId: '0000:17:00.0' };
    expect(gpuKey({ ...b, index: 0 })).toBe(gpuKey({ ...b, index: 7 }));
  });
});

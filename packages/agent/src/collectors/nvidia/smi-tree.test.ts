import { describe, expect, it } from 'vitest';
import { readXml } from './xml-reader.js';
import { smiChild, smiFirst, smiNodeFromXml, smiTreeFromText, smiValue } from './smi-tree.js';

describe('smiTreeFromText', () => {
  // Lines as printed by nvidia-smi -q (8x H100 capture), trimmed to the interesting ones.
  const text = [
    '==============NVSMI LOG==============',
    '',
    'Timestamp                                 : Thu Nov 14 07:00:14 2024',
    'Attached GPUs                             : 1',
    'GPU 00000000:18:00.0',
    '    PCI',
    '        Bus Id                            : 00000000:18:00.0',
    '    Clocks Event Reasons',
    '        HW Slowdown                       : Not Active',
    '            HW Thermal Slowdown           : Active',
    '        Sync Boost                        : Not Active',
    '    GPU Memory Power Readings ',
    '        Power Draw                        : 69.61 W',
    '    EDPp Multiplier                       : 100.00%',
    '    Processes                             : None',
  ].join('\n');
  const root = smiTreeFromText(text);
  const gpu = root.children.find((c) => c.key === 'gpu')!;

  it('splits keys from values at the first colon followed by a space, keeping bus ids and times whole', () => {
    expect(smiValue(root, 'timestamp')).toBe('Thu Nov 14 07:00:14 2024');
    expect(gpu.id).toBe('00000000:18:00.0');
    expect(smiValue(gpu, 'pci', 'busid')).toBe('00000000:18:00.0');
    expect(smiValue(gpu, 'edppmultiplier')).toBe('100.00%');
    expect(smiValue(gpu, 'processes')).toBe('None');
  });

  it('nests by indentation, including children under a line that has a value', () => {
    const slowdown = smiChild(gpu, 'clockseventreasons', 'hwslowdown')!;
    expect(slowdown.value).toBe('Not Active');
    expect(slowdown.children.map((c) => [c.label, c.value])).toEqual([['HW Thermal Slowdown', 'Active']]);
    expect(smiValue(gpu, 'clockseventreasons', 'syncboost')).toBe('Not Active');
    expect(smiValue(gpu, 'gpumemorypowerreadings', 'powerdraw')).toBe('69.61 W');
    expect(smiChild(gpu, 'gpumemorypowerreadings')!.value).toBeNull();
  });
});

describe('smiNodeFromXml and smiFirst', () => {
  it('slugs element names, keeps the id attribute and picks the first real value', () => {
    const node = smiNodeFromXml(
      readXml(
        '<gpu id="00000000:06:00.0"><gpu_power_readings><power_draw>N/A</power_draw><average_power_draw>8.81 W</average_power_draw></gpu_power_readings></gpu>',
      ),
    );
    expect(node.id).toBe('00000000:06:00.0');
    expect(node.value).toBeNull();
    const real = (raw: string): boolean => raw !== 'N/A';
    expect(
      smiFirst(
        node,
        [
          ['gpupowerreadings', 'powerdraw'],
          ['gpupowerreadings', 'averagepowerdraw'],
        ],
        real,
      ),
    ).toBe('8.81 W');
    expect(smiFirst(node, [['gpupowerreadings', 'missing']], real)).toBeNull();
  });
});

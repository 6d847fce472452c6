import { describe, expect, it } from 'vitest';
import { KernelLineJoiner } from './line-joiner.js';
import { parseKernelLine } from './kernel-line.js';

const DMESG = [
  '[ 1843.308145] NVRM: The NVIDIA GPU 0000:b3:00.0',
  '               NVRM: (PCI ID: 10de:26b5) installed in this system has',
  '               NVRM: fallen off the bus and is not responding to commands.',
];

function feed(lines: string[]): string[] {
  const j = new KernelLineJoiner();
  return [...lines.flatMap((l) => j.push(l)), ...j.flush()];
}

describe('KernelLineJoiner', () => {
  it('joins the three dmesg lines of the fallen-off-bus message into one record', () => {
    const out = feed(['[ 1843.1] other line', ...DMESG, '[ 1843.5] next line']);
    expect(out).toEqual(['[ 1843.1] other line', DMESG.join('\n'), '[ 1843.5] next line']);
    expect(parseKernelLine(out[1]!)).toMatchObject({ kind: 'fallen-off-bus', code: 79, pciBusId: '0000:b3:00.0', bootOffsetMs: 1843308 });
  });

  it('gives the record out as soon as its sentence ends, without waiting for the next line', () => {
    const j = new KernelLineJoiner();
    expect(j.push(DMESG[0]!)).toEqual([]);
    expect(j.waiting).toBe(true);
    expect(j.push(DMESG[1]!)).toEqual([]);
    expect(j.push(DMESG[2]!)).toEqual([DMESG.join('\n')]);
    expect(j.waiting).toBe(false);
  });

  it('joins syslog continuation lines that carry their own prefix', () => {
    const lines = [
      'Aug 30 11:43:09 h kernel: NVRM: The NVIDIA GPU 0000:b3:00.0',
      'Aug 30 11:43:09 h kernel: NVRM: (PCI ID: 10de:26b5) installed in this system has',
      'Aug 30 11:43:09 h kernel: NVRM: fallen off the bus and is not responding to commands.',
    ];
    const out = feed(lines);
    expect(out).toHaveLength(1);
    expect(parseKernelLine(out[0]!)).toMatchObject({ kind: 'fallen-off-bus', pciBusId: '0000:b3:00.0' });
  });

  it('lets a head go alone when something else follows, and keeps order', () => {
    const out = feed([DMESG[0]!, '[ 1843.4] NVRM: Xid (PCI:0000:b3:00): 79, GPU has fallen off the bus.', 'plain']);
    expect(out).toEqual([DMESG[0], '[ 1843.4] NVRM: Xid (PCI:0000:b3:00): 79, GPU has fallen off the bus.', 'plain']);
  });

  it('passes one-line messages straight through', () => {
    const one = 'NVRM: The NVIDIA GPU 0000:b3:00.0 (PCI ID: 10de:26b5) installed in this system has fallen off the bus and is not responding to commands.';
    const j = new KernelLineJoiner();
    expect(j.push(one)).toEqual([one]);
    expect(j.flush()).toEqual([]);
  });

  it('bounds a record that never ends', () => {
    const out = feed([DMESG[0]!, ...Array(10).fill('    NVRM: more text without an end')]);
    expect(out[0]!.split('\n')).toHaveLength(6);
    expect(out).toHaveLength(1 + 5);
  });
});

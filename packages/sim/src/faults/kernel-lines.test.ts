import { describe, expect, it } from 'vitest';
import { XID_CATALOG, isErrorCode } from '@gpufleet/protocol';
import { parseKernelLine } from '@gpufleet/agent';
import { readFixture } from '../../../agent/src/testing/fixtures.js';
import { KERNEL_TIME_STYLES, fallenOffBusLines, kernelTimePrefix, sxidText, xidMessage, xidPciForm, xidText } from './kernel-lines.js';

interface FixtureLine {
  xid: number | null;
  line: string;
}
const fixtureLines: FixtureLine[] = readFixture('kernel', 'nvrm-xid-lines.jsonl')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as FixtureLine);

function fixture(match: (l: string) => boolean): string {
  const hit = fixtureLines.find((f) => match(f.line));
  expect(hit, 'fixture line').toBeDefined();
  return hit!.line;
}

describe('kernel lines in the driver format of the fixtures', () => {
  it('writes XID 79 exactly as the recorded dmesg line', () => {
    const recorded = fixture((l) => l.startsWith('[6781741.548779] NVRM: Xid (PCI:0000:91:00): 79'));
    const prefix = kernelTimePrefix({ uptimeMs: 6_781_741_548, epochMs: 0, micros: 779 }, 'dmesg');
    expect(prefix + xidText({ pciBusId: '0000:91:00.0', code: 79, pid: null, process: null })).toBe(recorded);
  });

  it('writes the older form without pid and name', () => {
    const recorded = fixture((l) => l.startsWith('[74889.644138]'));
    const prefix = kernelTimePrefix({ uptimeMs: 74_889_644, epochMs: 0, micros: 138 }, 'dmesg');
    expect(prefix + xidText({ pciBusId: '0000:02:00.0', code: 79 })).toBe(recorded);
  });

  it('writes the iso (dmesg --time-format=iso --decode) form', () => {
    const recorded = fixture((l) => l.includes('): 43, pid=2924364'));
    const prefix = kernelTimePrefix({ uptimeMs: 0, epochMs: Date.UTC(2025, 0, 21, 4, 41, 44, 287), micros: 197 }, 'iso');
    expect(prefix + xidText({ pciBusId: '0000:38:00.0', code: 43, pid: 2924364, process: 'pt_main_thread', message: 'Ch 00000008' })).toBe(recorded);
  });

  it('writes the dmesg -T (ctime, local time) form', () => {
    const recorded = fixture((l) => l.startsWith('[Sun Feb 23 16:24:18 2025] NVRM: Xid (PCI:0000:9b:00): 119'));
    const message = recorded.slice(recorded.indexOf('name=nvidia-smi, ') + 'name=nvidia-smi, '.length);
    const prefix = kernelTimePrefix({ uptimeMs: 0, epochMs: new Date(2025, 1, 23, 16, 24, 18).getTime(), micros: 0 }, 'ctime');
    expect(prefix + xidText({ pciBusId: '0000:9b:00.0', code: 119, pid: 2024380, process: 'nvidia-smi', message })).toBe(recorded);
  });

  it('writes an NVSwitch SXid line exactly as recorded, message from the SXid catalog', () => {
    const recorded = fixture((l) => l.includes('nvidia-nvswitch1: SXid (PCI:0000:06:00.0): 20034'));
    const prefix = kernelTimePrefix({ uptimeMs: 6_781_753_400, epochMs: 0, micros: 584 }, 'dmesg');
    expect(prefix + sxidText({ switchIndex: 1, pciBusId: '0000:06:00.0', code: 20034, link: 48 })).toBe(recorded);
  });

  it('writes the three-line fallen-off-the-bus record as recorded', () => {
    const recorded = fixture((l) => l.includes('fallen off the bus and is not responding'));
    const prefix = kernelTimePrefix({ uptimeMs: 1_843_308, epochMs: 0, micros: 145 }, 'dmesg');
    expect(fallenOffBusLines(prefix, '0000:b3:00.0', '10de:26b5').join('\n')).toBe(recorded);
  });

  it('takes the message from the XID catalog', () => {
    expect(xidMessage(79)).toBe('GPU has fallen off the bus.');
    expect(xidMessage(13)).toBe('Graphics Engine Exception.');
    expect(xidText({ pciBusId: '0000:17:00.0', code: 48, pid: null, process: null })).toBe(
      "NVRM: Xid (PCI:0000:17:00): 48, pid='<unknown>', name=<unknown>, Double Bit ECC Error.",
    );
  });

  it('pads the kernel clock like dmesg and keeps microseconds', () => {
    expect(kernelTimePrefix({ uptimeMs: 1234, epochMs: 0, micros: 5 }, 'dmesg')).toBe('[    1.234005] ');
    expect(kernelTimePrefix({ uptimeMs: 0, epochMs: 0, micros: 0 }, 'dmesg')).toBe('[    0.000000] ');
    expect(xidPciForm('0000:17:00.0')).toBe('0000:17:00');
    expect(xidPciForm('17:00.0')).toBe('0000:17:00');
  });
});

describe('round trip through the agent parser', () => {
  it('reads back code, GPU address, pid and process for every catalog XID in every time style', () => {
    for (const style of KERNEL_TIME_STYLES) {
      for (const entry of XID_CATALOG) {
        const line =
          kernelTimePrefix({ uptimeMs: 86_400_123, epochMs: Date.UTC(2025, 5, 1, 12, 0, 0, 5), micros: 42 }, style) +
          xidText({ pciBusId: '0000:c3:00.0', code: entry.code, pid: 4242, process: 'python3' });
        const ev = parseKernelLine(line, { now: Date.UTC(2025, 5, 1, 12, 0, 1) });
        expect(ev, line).not.toBeNull();
        expect(ev!.kind).toBe('xid');
        expect(ev!.code).toBe(entry.code);
        expect(ev!.pciBusId).toBe('0000:c3:00.0');
        expect(ev!.pid).toBe(4242);
        expect(ev!.process).toBe('python3');
        if (style !== 'dmesg') expect(ev!.timestamp).not.toBeNull();
      }
    }
  });

  it('reads back the MIG instance, the SXid and the three-line record (as XID 79)', () => {
    const mig = parseKernelLine(xidText({ pciBusId: '0000:01:00.0', code: 94, pid: 7, process: 'a', gpuInstance: 5 }));
    expect(mig?.gpuInstance).toBe('5');
    const sx = parseKernelLine(
      kernelTimePrefix({ uptimeMs: 5, epochMs: 0, micros: 0 }, 'dmesg') + sxidText({ switchIndex: 2, pciBusId: '0000:07:00.0', code: 11001, link: 3 }),
    );
    expect(sx).toMatchObject({ kind: 'sxid', code: 11001, pciBusId: '0000:07:00.0' });
    const fallen = parseKernelLine(fallenOffBusLines('[   10.000000] ', '0000:b3:00.0', '10de:2330').join('\n'));
    expect(fallen).toMatchObject({ kind: 'fallen-off-bus', code: 79, pciBusId: '0000:b3:00.0' });
  });
});

describe('bad input', () => {
  it('refuses codes out of range, unknown codes without a message and bad PCI ids with clear errors', () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [() => xidText({ pciBusId: '0000:17:00.0', code: 0 }), /from 1 to 99999/],
      [() => xidText({ pciBusId: '0000:17:00.0', code: 1.5 }), /whole number/],
      [() => xidText({ pciBusId: '0000:17:00.0', code: 99_998 }), /not in the XID catalog/],
      [() => xidText({ pciBusId: 'not-a-bus', code: 79 }), /not a PCI bus id/],
      [() => sxidText({ switchIndex: 0, pciBusId: '0000:06:00.0', code: 99_998, link: 0 }), /not in the SXid catalog/],
      [() => fallenOffBusLines('', 'zz', '10de:2330'), /not a PCI bus id/],
    ];
    for (const [fn, why] of cases) {
      let caught: unknown;
      try {
        fn();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(Error);
      expect(isErrorCode((caught as { code?: unknown }).code)).toBe(true);
      expect((caught as Error).message).toMatch(why);
    }
  });

  it('keeps a given message on one line (a line break would forge a second record)', () => {
    const text = xidText({ pciBusId: '0000:17:00.0', code: 99_998, message: 'first\nNVRM: Xid (PCI:0000:18:00): 79, fake' });
    expect(text.split('\n')).toHaveLength(1);
    expect(parseKernelLine(text)?.code).toBe(99_998);
  });
});

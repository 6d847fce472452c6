import { describe, expect, it } from 'vitest';
import { parseCpuInfo, parseLoadavg, parseMeminfo, parseNetDev, parseOsRelease, parseProcStat } from './procfs.js';

const X86_CPUINFO = `processor	: 0
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Platinum 8480+
physical id	: 0
core id		: 0
cpu cores	: 2

processor	: 1
model name	: Intel(R) Xeon(R) Platinum 8480+
physical id	: 0
core id		: 0

processor	: 2
model name	: Intel(R) Xeon(R) Platinum 8480+
physical id	: 1
core id		: 0

processor	: 3
model name	: Intel(R) Xeon(R) Platinum 8480+
physical id	: 1
core id		: 1
`;

// aarch64 (Grace, Graviton): no model name, no topology.
const ARM64_CPUINFO = `processor	: 0
BogoMIPS	: 2000.00
Features	: fp asimd evtstrm
CPU implementer	: 0x41
CPU part	: 0xd4f

processor	: 1
BogoMIPS	: 2000.00
CPU implementer	: 0x41
CPU part	: 0xd4f
`;

// 32-bit ARM: a header "Processor" (model) and a trailing Hardware block.
const ARMV7_CPUINFO = `Processor	: ARMv7 Processor rev 10 (v7l)
processor	: 0
BogoMIPS	: 1590.23

processor	: 1
BogoMIPS	: 1590.23

Hardware	: Freescale i.MX 6Quad
`;

describe('parseCpuInfo', () => {
  it('counts threads and distinct (package, core) pairs on x86', () => {
    expect(parseCpuInfo(X86_CPUINFO)).toEqual({ model: 'Intel(R) Xeon(R) Platinum 8480+', threads: 4, cores: 3 });
  });

  it('has no model and no cores on aarch64', () => {
    expect(parseCpuInfo(ARM64_CPUINFO)).toEqual({ model: null, threads: 2, cores: null });
  });

  it('takes the Processor header as the model on 32-bit ARM without counting it', () => {
    expect(parseCpuInfo(ARMV7_CPUINFO)).toEqual({ model: 'ARMv7 Processor rev 10 (v7l)', threads: 2, cores: null });
  });

  it('survives garbage and missing input', () => {
    expect(parseCpuInfo(null)).toEqual({ model: null, threads: 0, cores: null });
    expect(parseCpuInfo('\u0000\u0001 binary ::: junk\nprocessor : x\n: nokey')).toEqual({ model: null, threads: 0, cores: null });
  });
});

describe('parseOsRelease', () => {
  it('reads quoted and bare values', () => {
    const text = 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nVERSION="22.04.4 LTS (Jammy Jellyfish)"\nID=ubuntu\nID_LIKE=debian\n';
    expect(parseOsRelease(text)).toEqual({ id: 'ubuntu', name: 'Ubuntu', version: '22.04' });
  });

  it('falls back to VERSION, then empty, and undoes escapes', () => {
    expect(parseOsRelease('ID=\'rhel\'\nNAME="Red \\"Hat\\""\nVERSION=9\n')).toEqual({ id: 'rhel', name: 'Red "Hat"', version: '9' });
    expect(parseOsRelease('ID=arch\nNAME="Arch Linux"\n')).toEqual({ id: 'arch', name: 'Arch Linux', version: '' });
  });

  it('defaults on missing or garbage input', () => {
    expect(parseOsRelease(null)).toEqual({ id: 'linux', name: 'Linux', version: '' });
    expect(parseOsRelease('this is not = an os-release\n#ID=commented')).toEqual({ id: 'linux', name: 'Linux', version: '' });
  });
});

describe('parseMeminfo', () => {
  it('converts kB to bytes and keeps unitless counters', () => {
    const m = parseMeminfo('MemTotal:       24684096 kB\nMemAvailable:   24125792 kB\nHugePages_Total:       4\nActive(anon):      100 kB\n');
    expect(m.get('MemTotal')).toBe(24684096 * 1024);
    expect(m.get('MemAvailable')).toBe(24125792 * 1024);
    expect(m.get('HugePages_Total')).toBe(4);
    expect(m.get('Active(anon)')).toBe(102400);
  });

  it('skips malformed lines', () => {
    const m = parseMeminfo('MemTotal: lots kB\nMemFree:\n garbage\nCached: -5 kB\nBuffers: 10 kB');
    expect([...m.entries()]).toEqual([['Buffers', 10240]]);
    expect(parseMeminfo(null).size).toBe(0);
  });
});

describe('parseProcStat', () => {
  it('reads the aggregate cpu line and btime', () => {
    const text = 'cpu  11304 0 4001 446656 466 0 87 14 0 0\ncpu0 2523 0 1618 226806 24 0 22 4 0 0\nintr 1 2 3\nbtime 1795543983\nprocesses 10675\n';
    expect(parseProcStat(text)).toEqual({
      cpu: { total: 11304 + 4001 + 446656 + 466 + 87 + 14, idle: 446656 + 466 },
      bootTime: 1795543983,
    });
  });

  it('accepts the four-column line of very old kernels', () => {
    expect(parseProcStat('cpu 10 20 30 40\n').cpu).toEqual({ total: 100, idle: 40 });
  });

  it('returns nulls for garbage', () => {
    expect(parseProcStat(null)).toEqual({ cpu: null, bootTime: null });
    expect(parseProcStat('cpu 1 two 3 4 5\nbtime soon\n')).toEqual({ cpu: null, bootTime: null });
    expect(parseProcStat('cpu 1 2\nbtime -4\n')).toEqual({ cpu: null, bootTime: null });
  });
});

describe('parseLoadavg', () => {
  it('reads the three averages', () => {
    expect(parseLoadavg('0.02 0.09 0.06 1/147 10675\n')).toEqual({ load1: 0.02, load5: 0.09, load15: 0.06 });
  });

  it('zeros what is unreadable', () => {
    expect(parseLoadavg(null)).toEqual({ load1: 0, load5: 0, load15: 0 });
    expect(parseLoadavg('1.5 NaN')).toEqual({ load1: 1.5, load5: 0, load15: 0 });
    expect(parseLoadavg('-1 2 x')).toEqual({ load1: 0, load5: 2, load15: 0 });
  });
});

describe('parseNetDev', () => {
  const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   78544    1214    0    0    0     0          0         0    78544    1214    0    0    0     0       0          0
  eth0: 210818573    7314    0    0    0     0          0         0   579375    4835    0    0    0     0       0          0
ib0:1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16
`;

  it('reads rx and tx bytes per interface, including lo and lines without a space after the colon', () => {
    expect(parseNetDev(NET_DEV)).toEqual([
      { name: 'lo', rxBytes: 78544, txBytes: 78544 },
      { name: 'eth0', rxBytes: 210818573, txBytes: 579375 },
      { name: 'ib0', rxBytes: 1, txBytes: 9 },
    ]);
  });

  it('skips short or non-numeric lines', () => {
    expect(parseNetDev('eth0: 1 2 3\nwlan0: a b c d e f g h i j\n: 1 2 3 4 5 6 7 8 9')).toEqual([]);
    expect(parseNetDev(null)).toEqual([]);
  });
});

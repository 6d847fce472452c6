import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { HostSample } from '@gpufleet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { HostSampler } from './host-sampler.js';
import type { StatFs } from './mounts.js';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

function makeRoot(): { root: string; write: (files: Record<string, string>) => void } {
  const root = mkdtempSync(join(tmpdir(), 'gpufleet-sampler-'));
  roots.push(root);
  const write = (files: Record<string, string>) => {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
  };
  return { root, write };
}

const netDev = (eth0: [number, number], ib0?: [number, number]) =>
  'Inter-|   Receive                                                |  Transmit\n' +
  ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n' +
  `    lo: 5000 10 0 0 0 0 0 0 5000 10 0 0 0 0 0 0\n` +
  `  eth0: ${eth0[0]} 10 0 0 0 0 0 0 ${eth0[1]} 10 0 0 0 0 0 0\n` +
  (ib0 ? `   ib0: ${ib0[0]} 1 0 0 0 0 0 0 ${ib0[1]} 1 0 0 0 0 0 0\n` : '');

// user nice system idle iowait irq softirq steal
const stat = (busy: number, idle: number, iowait: number) => `cpu  ${busy} 0 0 ${idle} ${iowait} 0 0 0 0 0\nbtime 1717171717\n`;

const statfs: StatFs = (mount) => (mount === '/' ? { totalBytes: 1000, usedBytes: 250 } : null);

function clock(start: number): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('HostSampler on recorded files', () => {
  it('computes CPU %, memory, load, disks and network rates from deltas', () => {
    const { root, write } = makeRoot();
    write({
      '/proc/stat': stat(1000, 8000, 1000),
      '/proc/net/dev': netDev([1_000_000, 500_000]),
      '/proc/loadavg': '1.50 0.75 0.25 3/900 4242\n',
      '/proc/meminfo': 'MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 400 kB\n',
      '/proc/self/mounts': '/dev/vda / ext4 rw 0 0\nproc /proc proc rw 0 0\n',
    });
    const t = clock(1_000_000);
    const sampler = new HostSampler({ rootDir: root, now: t.now, statfs });

    // 10 s later: 300 busy ticks and 100 idle+iowait ticks; eth0 got 20 MB in, sent 5 MB; ib0 is new.
    t.advance(10_000);
    write({ '/proc/stat': stat(1300, 8050, 1050), '/proc/net/dev': netDev([21_000_000, 5_500_000], [7, 7]) });
    const s = sampler.sample();
    expect(s).toEqual({
      cpuPct: 75,
      load1: 1.5,
      load5: 0.75,
      load15: 0.25,
      memoryUsedBytes: 600 * 1024,
      memoryTotalBytes: 1000 * 1024,
      disks: [{ mount: '/', usedBytes: 250, totalBytes: 1000 }],
      net: [
        { name: 'eth0', rxBytesPerSec: 2_000_000, txBytesPerSec: 500_000 },
        { name: 'ib0', rxBytesPerSec: 0, txBytesPerSec: 0 },
      ],
    });
    expect(HostSample.safeParse(s).success).toBe(true);

    // Next 5 s: all idle; ib0 moved 5000 bytes each way.
    t.advance(5_000);
    write({ '/proc/stat': stat(1300, 8550, 1050), '/proc/net/dev': netDev([21_000_000, 5_500_000], [5007, 5007]) });
    const s2 = sampler.sample();
    expect(s2.cpuPct).toBe(0);
    expect(s2.net).toEqual([
      { name: 'eth0', rxBytesPerSec: 0, txBytesPerSec: 0 },
      { name: 'ib0', rxBytesPerSec: 1000, txBytesPerSec: 1000 },
    ]);
  });

  it('reports 0 on the first sample when nothing moved since construction', () => {
    const { root, write } = makeRoot();
    write({ '/proc/stat': stat(50, 50, 0), '/proc/net/dev': netDev([10, 10]) });
    const sampler = new HostSampler({ rootDir: root, now: clock(0).now, statfs });
    const s = sampler.sample();
    expect(s.cpuPct).toBe(0);
    expect(s.net).toEqual([{ name: 'eth0', rxBytesPerSec: 0, txBytesPerSec: 0 }]);
  });

  it('gives 0 rather than a negative or huge rate when counters reset', () => {
    const { root, write } = makeRoot();
    write({ '/proc/stat': stat(5000, 5000, 0), '/proc/net/dev': netDev([9_000_000, 9_000_000]) });
    const t = clock(0);
    const sampler = new HostSampler({ rootDir: root, now: t.now, statfs });
    t.advance(1000);
    // The interface was re-created and the stat file went backwards (a restored container, say).
    write({ '/proc/stat': stat(10, 10, 0), '/proc/net/dev': netDev([100, 100]) });
    const s = sampler.sample();
    expect(s.cpuPct).toBe(0);
    expect(s.net).toEqual([{ name: 'eth0', rxBytesPerSec: 0, txBytesPerSec: 0 }]);
    // From the new baseline, rates are right again.
    t.advance(1000);
    write({ '/proc/stat': stat(20, 30, 0), '/proc/net/dev': netDev([600, 1100]) });
    const s2 = sampler.sample();
    expect(s2.cpuPct).toBeCloseTo(100 / 3, 10);
    expect(s2.net).toEqual([{ name: 'eth0', rxBytesPerSec: 500, txBytesPerSec: 1000 }]);
  });

  it('falls back to MemFree + Buffers + Cached on kernels without MemAvailable', () => {
    const { root, write } = makeRoot();
    write({ '/proc/meminfo': 'MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n' });
    const s = new HostSampler({ rootDir: root, statfs }).sample();
    expect(s.memoryUsedBytes).toBe(600 * 1024);
    expect(s.memoryTotalBytes).toBe(1000 * 1024);
  });

  it('returns zeros for a root with no files or garbage files, never throwing', () => {
    const { root, write } = makeRoot();
    const empty = new HostSampler({ rootDir: root, statfs }).sample();
    expect(empty).toEqual({ cpuPct: 0, load1: 0, load5: 0, load15: 0, memoryUsedBytes: 0, memoryTotalBytes: 0, disks: [], net: [] });
    write({
      '/proc/stat': 'cpu x y z\n',
      '/proc/net/dev': 'eth0: lots\n',
      '/proc/loadavg': 'high\n',
      '/proc/meminfo': 'MemTotal: 10 kB\nMemAvailable: 50 kB\n',
      '/proc/self/mounts': '\u0000\u0000',
    });
    const garbage = new HostSampler({ rootDir: root, statfs }).sample();
    // MemAvailable above MemTotal is nonsense: used memory clamps at 0, never negative.
    expect(garbage).toEqual({ cpuPct: 0, load1: 0, load5: 0, load15: 0, memoryUsedBytes: 0, memoryTotalBytes: 10 * 1024, disks: [], net: [] });
    expect(HostSample.safeParse(garbage).success).toBe(true);
  });
});

describe('HostSampler on this machine', () => {
  it('samples real /proc into a valid HostSample', async () => {
    const sampler = new HostSampler();
    // Burn a little CPU so the interval has ticks in it.
    const until = Date.now() + 150;
    while (Date.now() < until) Math.sqrt(Math.random());
    await new Promise((r) => setTimeout(r, 50));
    const s = sampler.sample();
    expect(HostSample.parse(s)).toEqual(s);
    expect(s.memoryTotalBytes).toBeGreaterThan(64 * 2 ** 20);
    expect(s.memoryUsedBytes).toBeGreaterThan(0);
    expect(s.memoryUsedBytes).toBeLessThanOrEqual(s.memoryTotalBytes);
    expect(s.cpuPct).toBeGreaterThan(0);
    expect(s.net.some((n) => n.name === 'lo')).toBe(false);
  });
});

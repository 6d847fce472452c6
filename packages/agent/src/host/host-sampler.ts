import type { HostSample } from '@gpufleet/protocol';
import { resolveHostReadOptions, type HostReadOptions } from './host-facts.js';
import { parseMounts, realFilesystems } from './mounts.js';
import { parseLoadavg, parseMeminfo, parseNetDev, parseProcStat, type CpuTimes, type NetCounters } from './procfs.js';
import { readRootFile } from './read-root-file.js';

export interface HostSamplerOptions extends HostReadOptions {
  /** Milliseconds clock for rate math. Default: Date.now. */
  now?: () => number;
}

const MAX_LIST = 256;

/**
 * Periodic host readings. CPU % and network rates are deltas between calls, so the sampler
 * keeps the previous counters. It takes a baseline when constructed: the first `sample()`
 * reports the interval since construction (0 where nothing was counted in between).
 * Never throws; unreadable files read as zeros.
 */
export class HostSampler {
  private readonly rootDir: string;
  private readonly statfs: NonNullable<HostReadOptions['statfs']>;
  private readonly now: () => number;
  private prevCpu: CpuTimes | null;
  private prevNet: Map<string, NetCounters>;
  private prevAt: number;

  constructor(opts: HostSamplerOptions = {}) {
    const resolved = resolveHostReadOptions(opts);
    this.rootDir = resolved.rootDir;
    this.statfs = resolved.statfs;
    this.now = opts.now ?? Date.now;
    this.prevCpu = this.readCpu();
    this.prevNet = this.readNet();
    this.prevAt = this.now();
  }

  sample(): HostSample {
    const at = this.now();
    const cpu = this.readCpu();
    const net = this.readNet();
    const elapsedSec = (at - this.prevAt) / 1000;

    const cpuPct = cpuPercent(this.prevCpu, cpu);
    const rates = [...net.values()].slice(0, MAX_LIST).map((cur) => {
      const prev = this.prevNet.get(cur.name);
      return {
        name: cur.name,
        rxBytesPerSec: rate(prev?.rxBytes, cur.rxBytes, elapsedSec),
        txBytesPerSec: rate(prev?.txBytes, cur.txBytes, elapsedSec),
      };
    });

    // Keep the last good CPU reading: one unreadable /proc/stat must not reset the baseline.
    if (cpu) this.prevCpu = cpu;
    this.prevNet = net;
    this.prevAt = at;

    const meminfo = parseMeminfo(readRootFile(this.rootDir, '/proc/meminfo'));
    const memoryTotalBytes = meminfo.get('MemTotal') ?? 0;
    // MemAvailable exists since Linux 3.14; before it, free + page cache is the usual estimate.
    const available = meminfo.get('MemAvailable') ?? (meminfo.get('MemFree') ?? 0) + (meminfo.get('Buffers') ?? 0) + (meminfo.get('Cached') ?? 0);

    return {
      cpuPct,
      ...parseLoadavg(readRootFile(this.rootDir, '/proc/loadavg')),
      memoryUsedBytes: Math.max(0, memoryTotalBytes - available),
      memoryTotalBytes,
      disks: realFilesystems(parseMounts(readRootFile(this.rootDir, '/proc/self/mounts')))
        .slice(0, MAX_LIST)
        .map((m) => {
          const usage = this.statfs(m.mount);
          return { mount: m.mount, usedBytes: usage?.usedBytes ?? 0, totalBytes: usage?.totalBytes ?? 0 };
        }),
      net: rates,
    };
  }

  private readCpu(): CpuTimes | null {
    return parseProcStat(readRootFile(this.rootDir, '/proc/stat')).cpu;
  }

  private readNet(): Map<string, NetCounters> {
    const out = new Map<string, NetCounters>();
    for (const c of parseNetDev(readRootFile(this.rootDir, '/proc/net/dev'))) {
      if (c.name !== 'lo') out.set(c.name, c);
    }
    return out;
  }
}

/** Busy share of the CPU time that passed between two readings, 0–100. */
function cpuPercent(prev: CpuTimes | null, cur: CpuTimes | null): number {
  if (!prev || !cur) return 0;
  const total = cur.total - prev.total;
  const idle = cur.idle - prev.idle;
  // No ticks passed, or the counters went backwards (a reset): no honest figure to give.
  if (total <= 0 || idle < 0) return 0;
  return Math.min(100, Math.max(0, ((total - idle) / total) * 100));
}

/** Per-second rate of a counter; 0 for a new interface, a counter reset or no elapsed time. */
function rate(prev: number | undefined, cur: number, elapsedSec: number): number {
  if (prev === undefined || elapsedSec <= 0 || cur < prev) return 0;
  return (cur - prev) / elapsedSec;
}

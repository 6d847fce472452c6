/**
 * Pure parsers for the procfs text files the host collector reads. Each takes the file's text
 * (or null when it could not be read) and returns defaults for anything missing or malformed:
 * a garbled line costs that one value, never the whole sample.
 */

/** Identity of the distribution from /etc/os-release. */
export interface OsRelease {
  id: string;
  name: string;
  version: string;
}

/** Parses os-release(5): KEY=value lines, values optionally quoted with shell-style escapes. */
export function parseOsRelease(text: string | null): OsRelease {
  const vars = new Map<string, string>();
  for (const line of (text ?? '').split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    vars.set(m[1]!, unquote(m[2]!.trim()));
  }
  return {
    id: vars.get('ID') || 'linux',
    name: vars.get('NAME') || 'Linux',
    // VERSION_ID is the machine-readable one ("12"); rolling distributions have neither.
    version: vars.get('VERSION_ID') || vars.get('VERSION') || '',
  };
}

function unquote(value: string): string {
  const q = value[0];
  if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) {
    const inner = value.slice(1, -1);
    return q === '"' ? inner.replace(/\\(["\\`$])/g, '$1') : inner;
  }
  return value;
}

/** What /proc/cpuinfo says about the processors. */
export interface CpuInfo {
  /** Marketing name; null when the architecture's cpuinfo has none (most ARM kernels). */
  model: string | null;
  /** Logical processors (hardware threads); 0 when none were listed. */
  threads: number;
  /** Distinct (physical id, core id) pairs; null when the file carries no topology (ARM, s390). */
  cores: number | null;
}

// Keys that name the processor on architectures without "model name", most specific first.
const MODEL_KEYS = ['model name', 'Processor', 'Hardware', 'cpu model', 'cpu'];

/** Parses /proc/cpuinfo: blank-line separated blocks of `key<tabs>: value`. */
export function parseCpuInfo(text: string | null): CpuInfo {
  const blocks: Map<string, string>[] = [];
  let current = new Map<string, string>();
  for (const line of (text ?? '').split('\n')) {
    if (line.trim() === '') {
      if (current.size > 0) blocks.push(current);
      current = new Map();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim();
    if (!current.has(key)) current.set(key, line.slice(colon + 1).trim());
  }
  if (current.size > 0) blocks.push(current);

  let model: string | null = null;
  for (const key of MODEL_KEYS) {
    for (const block of blocks) {
      const value = block.get(key);
      if (value) {
        model = value;
        break;
      }
    }
    if (model) break;
  }

  // Old ARM kernels print "Processor : ARMv7 ..." (capital P) in a header block: only numeric
  // lower-case "processor" entries are logical CPUs.
  const processors = blocks.filter((b) => /^\d+$/.test(b.get('processor') ?? ''));
  const coreIds = new Set<string>();
  for (const block of processors) {
    const core = block.get('core id');
    if (core === undefined) continue;
    coreIds.add(`${block.get('physical id') ?? '0'}:${core}`);
  }
  return { model, threads: processors.length, cores: coreIds.size > 0 ? coreIds.size : null };
}

/** /proc/meminfo as bytes by key (`MemTotal`, `MemAvailable`, ...). */
export function parseMeminfo(text: string | null): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const m = /^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+(kB))?\s*$/.exec(line);
    if (!m) continue;
    // The kernel writes "kB" but means KiB.
    out.set(m[1]!, Number(m[2]) * (m[3] ? 1024 : 1));
  }
  return out;
}

/** Aggregate CPU time from /proc/stat, in clock ticks. */
export interface CpuTimes {
  /** All time except guest columns (the kernel already counts guest time inside user/nice). */
  total: number;
  /** idle + iowait: time the CPUs had nothing to run. */
  idle: number;
}

/** The parts of /proc/stat the agent uses. */
export interface ProcStat {
  cpu: CpuTimes | null;
  /** Boot time, epoch seconds. */
  bootTime: number | null;
}

export function parseProcStat(text: string | null): ProcStat {
  let cpu: CpuTimes | null = null;
  let bootTime: number | null = null;
  for (const line of (text ?? '').split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === 'cpu' && cpu === null) {
      const ticks = fields.slice(1, 9).map(Number);
      // Kernels before 2.6.11 lack steal; below four columns the line is garbage.
      if (ticks.length < 4 || ticks.some((t) => !Number.isFinite(t) || t < 0)) continue;
      const total = ticks.reduce((a, b) => a + b, 0);
      cpu = { total, idle: ticks[3]! + (ticks[4] ?? 0) };
    } else if (fields[0] === 'btime' && bootTime === null) {
      const value = Number(fields[1]);
      if (fields.length === 2 && Number.isSafeInteger(value) && value > 0) bootTime = value;
    }
  }
  return { cpu, bootTime };
}

/** Load averages from /proc/loadavg; zeros where unreadable. */
export function parseLoadavg(text: string | null): { load1: number; load5: number; load15: number } {
  const [a, b, c] = (text ?? '').trim().split(/\s+/).map(Number);
  const ok = (v: number | undefined) => (v !== undefined && Number.isFinite(v) && v >= 0 ? v : 0);
  return { load1: ok(a), load5: ok(b), load15: ok(c) };
}

/** Byte counters of one interface from /proc/net/dev. */
export interface NetCounters {
  name: string;
  rxBytes: number;
  txBytes: number;
}

/** Parses /proc/net/dev: two header lines, then `name: rx(8 columns) tx(8 columns)`. */
export function parseNetDev(text: string | null): NetCounters[] {
  const out: NetCounters[] = [];
  for (const line of (text ?? '').split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const cols = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (!name || cols.length < 9) continue;
    const rxBytes = cols[0]!;
    const txBytes = cols[8]!;
    if (!Number.isFinite(rxBytes) || !Number.isFinite(txBytes) || rxBytes < 0 || txBytes < 0) continue;
    out.push({ name, rxBytes, txBytes });
  }
  return out;
}

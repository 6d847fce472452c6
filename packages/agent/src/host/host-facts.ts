import * as nodeOs from 'node:os';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { HostFacts } from '@gpufleet/protocol';
import { detectContainerRuntime } from './container-runtime.js';
import { parseMounts, realFilesystems, statfsBelow, type StatFs } from './mounts.js';
import { parseCpuInfo, parseMeminfo, parseOsRelease, parseProcStat } from './procfs.js';
import { readRootFile } from './read-root-file.js';

/** The parts of node:os the host collector uses; tests pass a fake. */
export interface HostSystem {
  hostname(): string;
  release(): string;
  machine(): string;
  networkInterfaces(): NodeJS.Dict<nodeOs.NetworkInterfaceInfo[]>;
  cpus(): nodeOs.CpuInfo[];
  totalmem(): number;
}

/** Where host facts are read from. Every field defaults to the real machine. */
export interface HostReadOptions {
  /** Root of the filesystem holding /proc, /sys, /etc and /run. Default `/`. */
  rootDir?: string;
  /** Default: node:os. */
  os?: HostSystem;
  /** Environment (for $XDG_RUNTIME_DIR). Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Filesystem size reader. Default: statfs of the mount below rootDir. */
  statfs?: StatFs;
}

export interface HostFactsOptions extends HostReadOptions {
  agentVersion: string;
}

// The schema bounds these lists; a host past them reports the first ones.
const MAX_LIST = 256;
const MAX_HOSTNAME = 253;

/** Resolves the read options once, so collectors need no null checks. */
export function resolveHostReadOptions(opts: HostReadOptions): Required<HostReadOptions> {
  const rootDir = opts.rootDir ?? '/';
  return {
    rootDir,
    os: opts.os ?? nodeOs,
    env: opts.env ?? process.env,
    statfs: opts.statfs ?? statfsBelow(rootDir),
  };
}

/** Calls an os function that can throw in odd sandboxes (uv errors); falls back instead. */
function safe<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/**
 * The host's static facts for the inventory: read once at start and after a change. Never
 * throws: anything unreadable becomes a default (empty string, 0, null or an empty list).
 */
export function readHostFacts(opts: HostFactsOptions): HostFacts {
  const { rootDir, os, env, statfs } = resolveHostReadOptions(opts);
  const cpuInfo = parseCpuInfo(readRootFile(rootDir, '/proc/cpuinfo'));
  const meminfo = parseMeminfo(readRootFile(rootDir, '/proc/meminfo'));
  const stat = parseProcStat(readRootFile(rootDir, '/proc/stat'));
  const osRelease = parseOsRelease(readRootFile(rootDir, '/etc/os-release') ?? readRootFile(rootDir, '/usr/lib/os-release'));

  const threads = cpuInfo.threads || safe(() => os.cpus().length, 0);
  const cores = cpuInfo.cores ?? sysfsCoreCount(rootDir) ?? threads;

  return {
    hostname: readHostname(rootDir, os),
    os: osRelease,
    kernel: safe(() => os.release(), ''),
    arch: safe(() => os.machine(), ''),
    cpu: {
      model: cpuInfo.model ?? (safe(() => os.cpus()[0]?.model?.trim(), undefined) || 'unknown'),
      cores,
      threads,
    },
    memoryTotalBytes: meminfo.get('MemTotal') ?? safe(() => os.totalmem(), 0),
    disks: realFilesystems(parseMounts(readRootFile(rootDir, '/proc/self/mounts')))
      .slice(0, MAX_LIST)
      .map((m) => {
        const usage = statfs(m.mount);
        return { device: m.device, mount: m.mount, fsType: m.fsType, totalBytes: usage?.totalBytes ?? 0, usedBytes: usage?.usedBytes ?? 0 };
      }),
    network: readInterfaces(os),
    containerRuntime: detectContainerRuntime(rootDir, env),
    agentVersion: opts.agentVersion,
    // The wire carries epoch ms; /proc/stat gives seconds.
    bootTime: stat.bootTime === null ? null : stat.bootTime * 1000,
  };
}

function readHostname(rootDir: string, os: HostSystem): string {
  const name = safe(() => os.hostname().trim(), '') || (readRootFile(rootDir, '/proc/sys/kernel/hostname') ?? '').trim();
  return (name || 'localhost').slice(0, MAX_HOSTNAME);
}

/**
 * Physical cores from sysfs topology, for architectures whose cpuinfo has no core ids (ARM).
 * Null when sysfs is not there.
 */
function sysfsCoreCount(rootDir: string): number | null {
  const base = '/sys/devices/system/cpu';
  let names: string[];
  try {
    names = readdirSync(join(rootDir, base)).filter((n) => /^cpu\d+$/.test(n));
  } catch {
    return null;
  }
  const cores = new Set<string>();
  for (const name of names) {
    const core = readRootFile(rootDir, `${base}/${name}/topology/core_id`)?.trim();
    if (!core) continue;
    const pkg = readRootFile(rootDir, `${base}/${name}/topology/physical_package_id`)?.trim() ?? '0';
    cores.add(`${pkg}:${core}`);
  }
  return cores.size > 0 ? cores.size : null;
}

/** Network interfaces with their MAC and addresses; loopback is left out. */
function readInterfaces(os: HostSystem): HostFacts['network'] {
  const all = safe(() => os.networkInterfaces(), {});
  const out: HostFacts['network'] = [];
  for (const [name, infos] of Object.entries(all)) {
    if (!infos || infos.length === 0 || name === 'lo' || infos.every((i) => i.internal)) continue;
    // Tunnels and some virtual links report an all-zero MAC: that is no MAC.
    const mac = infos.find((i) => i.mac && i.mac !== '00:00:00:00:00:00')?.mac ?? null;
    out.push({ name, mac, addresses: infos.filter((i) => !i.internal).map((i) => i.address) });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name)).slice(0, MAX_LIST);
}

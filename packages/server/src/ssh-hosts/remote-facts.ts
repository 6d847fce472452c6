import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { NetworkInterfaceInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { HostSampler, readHostFacts, RealHardwareBackend, type HostSystem, type StatFs, type ToolExec, type ToolResult } from '@gpufleet/agent';
import { gpuInfoOf, gpuSampleOf, type GpuInfo, type HostFacts, type MetricsBody, type ToolFailure } from '@gpufleet/protocol';
import type { FactSection } from './facts-script.js';

/** What one fact collection found: the inventory (as an agent reports it) and one metrics sample. */
export interface RemoteFacts {
  host: HostFacts;
  gpus: GpuInfo[];
  toolFailures: ToolFailure[];
  metrics: MetricsBody;
}

/** The version the host facts carry for a node without an agent. */
export const SSH_AGENT_VERSION = 'ssh';

/**
 * Turns the facts script's sections into facts with the agent's own code: the files go into a
 * private scratch root that readHostFacts and HostSampler read as if it were `/`, the commands
 * stand in for node:os, and the recorded tool runs are replayed to the agent's hardware backend
 * (its vendor sources and parsers, failures classified the same way).
 */
export async function factsFromSections(sections: FactSection[], now: number): Promise<RemoteFacts> {
  const root = mkdtempSync(join(tmpdir(), 'gpufleet-ssh-facts-'));
  try {
    const commands = new Map<string, string>();
    const tools = new Map<string, { out: string; err: string; rc: number | null; missing: boolean }>();
    for (const { marker, text } of sections) {
      const [kind, ...rest] = marker.split(' ');
      if (kind === 'file' && rest[0]?.startsWith('/')) {
        const path = join(root, rest[0]);
        if (!path.startsWith(root)) continue;
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, `${text}\n`);
      } else if (kind === 'cmd') {
        commands.set(rest.join(' '), text);
      } else if (kind === 'missing') {
        tools.set(rest.join(' '), { out: '', err: '', rc: null, missing: true });
      } else if (kind === 'out' || kind === 'err') {
        const key = rest.join(' ');
        const t = tools.get(key) ?? { out: '', err: '', rc: null, missing: false };
        if (kind === 'out') t.out = text;
        else t.err = text;
        tools.set(key, t);
      } else if (kind === 'rc') {
        const key = rest.slice(1).join(' ');
        const t = tools.get(key) ?? { out: '', err: '', rc: null, missing: false };
        t.rc = Number(rest[0]);
        tools.set(key, t);
      }
    }
    const statfs = dfStatfs(commands.get('df') ?? '');
    const os = remoteOs(commands);
    const host = readHostFacts({ rootDir: root, os, env: {}, statfs, agentVersion: SSH_AGENT_VERSION });
    const replay: ToolExec = async (command, args): Promise<ToolResult> => {
      const t = tools.get([command, ...args].join(' '));
      if (!t || t.missing) return { kind: 'missing' };
      if (t.rc === 0) return { kind: 'ok', stdout: t.out, stderr: t.err };
      return { kind: 'failed', exitCode: t.rc, output: [t.out, t.err].filter((s) => s !== '').join('\n'), timedOut: false };
    };
    const backend = new RealHardwareBackend({ rootDir: root, agentVersion: SSH_AGENT_VERSION, exec: replay, now: () => now });
    const readout = await backend.gpus();
    const sample = new HostSampler({ rootDir: root, statfs, now: () => now }).sample();
    return {
      host,
      gpus: readout.snapshots.map(gpuInfoOf),
      toolFailures: readout.failures.slice(0, 16),
      metrics: { ts: now, host: sample, gpus: readout.snapshots.map(gpuSampleOf) },
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** `df -P -B1`: sizes by mount point (the mount is the last column; it may hold spaces). */
function dfStatfs(df: string): StatFs {
  const sizes = new Map<string, { totalBytes: number; usedBytes: number }>();
  for (const line of df.split('\n').slice(1)) {
    const m = /^\S+\s+(\d+)\s+(\d+)\s+\d+\s+\S+\s+(.+)$/.exec(line.trim());
    if (m) sizes.set(m[3]!, { totalBytes: Number(m[1]), usedBytes: Number(m[2]) });
  }
  return (mount: string) => sizes.get(mount) ?? null;
}

/** node:os of the remote host, from `hostname`, `uname` and `ip -o`. */
function remoteOs(commands: Map<string, string>): HostSystem {
  const macs = new Map<string, string>();
  for (const line of (commands.get('ip-link') ?? '').split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)[^\n]*?link\/\S+\s+([0-9a-f:]{17})/.exec(line);
    if (m) macs.set(m[1]!, m[2]!);
  }
  const interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = {};
  for (const line of (commands.get('ip-addr') ?? '').split('\n')) {
    const m = /^\d+:\s+(\S+)\s+(inet6?)\s+([^/\s]+)\/(\d+)/.exec(line);
    if (!m) continue;
    const name = m[1]!;
    const family = m[2] === 'inet' ? 'IPv4' : 'IPv6';
    const info = {
      address: m[3]!,
      netmask: '',
      family,
      mac: macs.get(name) ?? '00:00:00:00:00:00',
      internal: name === 'lo',
      cidr: `${m[3]}/${m[4]}`,
      ...(family === 'IPv6' ? { scopeid: 0 } : {}),
    } as NetworkInterfaceInfo;
    (interfaces[name] ??= []).push(info);
  }
  const first = (key: string) => (commands.get(key) ?? '').split('\n')[0]!.trim();
  return {
    hostname: () => first('hostname'),
    release: () => first('uname-r'),
    machine: () => first('uname-m'),
    networkInterfaces: () => interfaces,
    cpus: () => [],
    totalmem: () => 0,
  };
}

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { CpuInfo, NetworkInterfaceInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { HostFacts } from '@gpufleet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { readHostFacts, type HostSystem } from './host-facts.js';
import type { StatFs } from './mounts.js';

const roots: string[] = [];
const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A temp folder laid out like `/`, holding the given files. */
function makeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'gpufleet-host-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/** Listens on a unix socket at `path` below root, as a container engine would. */
async function listenSocket(root: string, path: string): Promise<void> {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(join(root, path), resolve);
  });
}

const iface = (partial: Partial<NetworkInterfaceInfo>): NetworkInterfaceInfo =>
  ({ address: '', netmask: '', family: 'IPv4', mac: '00:00:00:00:00:00', internal: false, cidr: null, ...partial }) as NetworkInterfaceInfo;

function fakeOs(overrides: Partial<HostSystem> = {}): HostSystem {
  return {
    hostname: () => 'gpu-node-07',
    release: () => '6.8.0-45-generic',
    machine: () => 'x86_64',
    networkInterfaces: () => ({
      lo: [iface({ address: '127.0.0.1', internal: true }), iface({ address: '::1', family: 'IPv6', internal: true })],
      eth0: [
        iface({ address: '10.0.3.17', mac: '52:54:00:12:34:56' }),
        iface({ address: 'fe80::5054:ff:fe12:3456', family: 'IPv6', mac: '52:54:00:12:34:56' }),
      ],
      wg0: [iface({ address: '10.99.0.2' })],
    }),
    cpus: () => [{ model: 'os-cpus model', speed: 0, times: { user: 0, nice: 0, sys: 0, idle: 0, irq: 0 } } as CpuInfo],
    totalmem: () => 999,
    ...overrides,
  };
}

const fixedStatfs: StatFs = (mount) =>
  mount === '/' ? { totalBytes: 500_000_000_000, usedBytes: 120_000_000_000 } : mount === '/data' ? { totalBytes: 4e12, usedBytes: 1e12 } : null;

const RECORDED = {
  '/etc/os-release': 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\n',
  '/proc/cpuinfo':
    'processor\t: 0\nmodel name\t: AMD EPYC 9654 96-Core Processor\nphysical id\t: 0\ncore id\t\t: 0\n\n' +
    'processor\t: 1\nmodel name\t: AMD EPYC 9654 96-Core Processor\nphysical id\t: 0\ncore id\t\t: 0\n\n' +
    'processor\t: 2\nmodel name\t: AMD EPYC 9654 96-Core Processor\nphysical id\t: 0\ncore id\t\t: 1\n\n',
  '/proc/meminfo': 'MemTotal:       2113507640 kB\nMemFree:        2000000000 kB\nMemAvailable:   2100000000 kB\n',
  '/proc/stat': 'cpu  1 2 3 4 5 6 7 8 0 0\nbtime 1717171717\n',
  '/proc/self/mounts':
    'proc /proc proc rw 0 0\n/dev/nvme0n1p2 / ext4 rw 0 0\ntmpfs /run tmpfs rw 0 0\n/dev/md0 /data xfs rw 0 0\n/dev/sdz1 /broken ext4 rw 0 0\n',
};

describe('readHostFacts on recorded files', () => {
  it('reads every fact from the files and the os module', async () => {
    const root = makeRoot(RECORDED);
    await listenSocket(root, '/run/docker.sock');
    const facts = readHostFacts({ rootDir: root, agentVersion: '1.2.3', os: fakeOs(), env: {}, statfs: fixedStatfs });
    expect(facts).toEqual({
      hostname: 'gpu-node-07',
      os: { id: 'ubuntu', name: 'Ubuntu', version: '22.04' },
      kernel: '6.8.0-45-generic',
      arch: 'x86_64',
      cpu: { model: 'AMD EPYC 9654 96-Core Processor', cores: 2, threads: 3 },
      memoryTotalBytes: 2113507640 * 1024,
      disks: [
        { device: '/dev/nvme0n1p2', mount: '/', fsType: 'ext4', totalBytes: 500_000_000_000, usedBytes: 120_000_000_000 },
        // statfs failed: the disk is still listed, with unknown sizes as 0.
        { device: '/dev/sdz1', mount: '/broken', fsType: 'ext4', totalBytes: 0, usedBytes: 0 },
        { device: '/dev/md0', mount: '/data', fsType: 'xfs', totalBytes: 4e12, usedBytes: 1e12 },
      ],
      network: [
        { name: 'eth0', mac: '52:54:00:12:34:56', addresses: ['10.0.3.17', 'fe80::5054:ff:fe12:3456'] },
        { name: 'wg0', mac: null, addresses: ['10.99.0.2'] },
      ],
      containerRuntime: { name: 'docker', socket: '/run/docker.sock' },
      agentVersion: '1.2.3',
      bootTime: 1717171717000,
    });
    expect(HostFacts.safeParse(facts).success).toBe(true);
  });

  it('finds rootless podman through XDG_RUNTIME_DIR, and ignores a regular file named like a socket', async () => {
    const root = makeRoot({ '/var/run/docker.sock': 'not a socket' });
    await listenSocket(root, '/run/user/1000/podman/podman.sock');
    const facts = readHostFacts({ rootDir: root, agentVersion: 't', os: fakeOs(), env: { XDG_RUNTIME_DIR: '/run/user/1000' } });
    expect(facts.containerRuntime).toEqual({ name: 'podman', socket: '/run/user/1000/podman/podman.sock' });
    expect(readHostFacts({ rootDir: root, agentVersion: 't', os: fakeOs(), env: {} }).containerRuntime).toBeNull();
  });

  it('counts ARM cores from sysfs topology and takes the model from os.cpus()', () => {
    const root = makeRoot({
      '/proc/cpuinfo': 'processor\t: 0\nCPU part\t: 0xd4f\n\nprocessor\t: 1\nCPU part\t: 0xd4f\n\nprocessor\t: 2\n\nprocessor\t: 3\n',
      '/sys/devices/system/cpu/cpu0/topology/core_id': '0\n',
      '/sys/devices/system/cpu/cpu1/topology/core_id': '1\n',
      '/sys/devices/system/cpu/cpu2/topology/core_id': '0\n',
      '/sys/devices/system/cpu/cpu2/topology/physical_package_id': '1\n',
      '/sys/devices/system/cpu/cpu3/topology/core_id': '0\n',
      '/sys/devices/system/cpu/cpu3/topology/physical_package_id': '1\n',
      '/sys/devices/system/cpu/cpufreq/policy0': '',
    });
    const facts = readHostFacts({ rootDir: root, agentVersion: 't', os: fakeOs({ machine: () => 'aarch64' }), env: {} });
    expect(facts.cpu).toEqual({ model: 'os-cpus model', cores: 3, threads: 4 });
    expect(facts.arch).toBe('aarch64');
  });
});

describe('readHostFacts on a broken host', () => {
  it('gives defaults for an empty root and never throws', () => {
    const root = makeRoot({});
    const facts = readHostFacts({ rootDir: root, agentVersion: 'v', os: fakeOs({ cpus: () => [] }), env: {} });
    expect(facts).toMatchObject({
      os: { id: 'linux', name: 'Linux', version: '' },
      cpu: { model: 'unknown', cores: 0, threads: 0 },
      memoryTotalBytes: 999,
      disks: [],
      containerRuntime: null,
      bootTime: null,
    });
    expect(HostFacts.safeParse(facts).success).toBe(true);
  });

  it('survives garbage files and an os module that throws', () => {
    const root = makeRoot({
      '/etc/os-release': '\u0000\u0001\u0002',
      '/proc/cpuinfo': 'lorem ipsum\n\n:::\n',
      '/proc/meminfo': 'MemTotal: many\n',
      '/proc/stat': 'btime yesterday\n',
      '/proc/self/mounts': '\u00ff\u00fe garbage\n',
      '/proc/sys/kernel/hostname': 'from-proc\n',
    });
    const boom = () => {
      throw new Error('uv_interface_addresses failed');
    };
    const facts = readHostFacts({
      rootDir: root,
      agentVersion: 'v',
      os: { hostname: () => '', release: boom, machine: boom, networkInterfaces: boom, cpus: boom, totalmem: boom },
      env: {},
    });
    expect(facts).toEqual({
      hostname: 'from-proc',
      os: { id: 'linux', name: 'Linux', version: '' },
      kernel: '',
      arch: '',
      cpu: { model: 'unknown', cores: 0, threads: 0 },
      memoryTotalBytes: 0,
      disks: [],
      network: [],
      containerRuntime: null,
      agentVersion: 'v',
      bootTime: null,
    });
    expect(HostFacts.safeParse(facts).success).toBe(true);
  });

  it('cuts an overlong hostname to the schema limit', () => {
    const facts = readHostFacts({ rootDir: makeRoot({}), agentVersion: 'v', os: fakeOs({ hostname: () => 'h'.repeat(300) }), env: {} });
    expect(facts.hostname).toHaveLength(253);
  });
});

describe('readHostFacts on this machine', () => {
  it('reads real /proc into a valid, sane HostFacts', () => {
    const facts = readHostFacts({ agentVersion: 'test' });
    expect(HostFacts.parse(facts)).toEqual(facts);
    expect(facts.cpu.threads).toBeGreaterThan(0);
    expect(facts.cpu.cores).toBeGreaterThan(0);
    expect(facts.cpu.cores).toBeLessThanOrEqual(facts.cpu.threads);
    expect(facts.memoryTotalBytes).toBeGreaterThan(64 * 2 ** 20);
    expect(facts.kernel).not.toBe('');
    expect(facts.bootTime).toBeGreaterThan(Date.UTC(2000, 0, 1));
    expect(facts.bootTime).toBeLessThan(Date.now() + 60_000);
    expect(facts.network.some((n) => n.name === 'lo')).toBe(false);
    // Whatever is mounted, no pseudo filesystem may be listed as a disk.
    for (const d of facts.disks) expect(['proc', 'sysfs', 'tmpfs', 'cgroup', 'cgroup2', 'overlay', 'devtmpfs']).not.toContain(d.fsType);
  });
});

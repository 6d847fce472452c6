import { emptyGpuSnapshot, gpuInfoOf, gpuSampleOf, type GpuView, type NodeView } from '@gpufleet/protocol';

/** A GPU as the API shows it, with a sample; override any reading. */
export function sampleGpu(index: number, over: Partial<GpuView['sample'] & { name: string; powerLimitW: number }> = {}): GpuView {
  const snap = {
    ...emptyGpuSnapshot('nvidia', index),
    uuid: `GPU-0000000${index}-aaaa-bbbb-cccc-000000000000`,
    name: over.name ?? 'NVIDIA H100 80GB HBM3',
    pciBusId: `0000:${(0x17 + index).toString(16)}:00.0`,
    memoryTotalBytes: 80 * 2 ** 30,
    driverVersion: '565.57.01',
    powerLimitW: over.powerLimitW ?? 700,
    temperatureC: 50 + index,
    utilizationPct: 10 * index,
    memoryUsedBytes: 2 ** 30 * (index + 1),
    powerDrawW: 100 + index * 50,
  };
  return {
    ...gpuInfoOf(snap),
    sample: { ...gpuSampleOf(snap), ...over } as GpuView['sample'],
    state: 'READY',
    stateChange: null,
    health: { verdict: 'healthy', rule: null, cause: null, since: null },
  };
}

/** A READY node with `gpus` H100s, seen 3 minutes before `now`. */
export function sampleNode(over: Partial<NodeView> & { gpuCount?: number; now?: number } = {}): NodeView {
  const now = over.now ?? Date.UTC(2025, 0, 1, 12, 0, 0);
  const gpus = over.gpus ?? Array.from({ length: over.gpuCount ?? 8 }, (_, i) => sampleGpu(i));
  const { gpuCount: _g, now: _n, ...rest } = over;
  return {
    id: 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK',
    hostname: 'gpu-node-01',
    status: 'READY',
    connected: true,
    labels: { hostname: 'gpu-node-01', 'gpu.model': 'H100', region: 'eu' },
    userLabels: { region: 'eu' },
    enrolledAt: new Date(now - 86_400_000).toISOString(),
    lastSeenAt: new Date(now - 180_000).toISOString(),
    agentVersion: '0.1.0',
    simulated: false,
    facts: {
      hostname: 'gpu-node-01',
      os: { id: 'ubuntu', name: 'Ubuntu', version: '22.04' },
      kernel: '5.15.0',
      arch: 'x86_64',
      cpu: { model: 'AMD EPYC 9654', cores: 96, threads: 192 },
      memoryTotalBytes: 2 * 2 ** 40,
      disks: [],
      network: [],
      containerRuntime: null,
      agentVersion: '0.1.0',
      bootTime: null,
    },
    gpus,
    host: { cpuPct: 12, load1: 1.5, load5: 1.2, load15: 1, memoryUsedBytes: 2 ** 40, memoryTotalBytes: 2 * 2 ** 40, disks: [], net: [] },
    toolFailures: [],
    statusChange: null,
    health: { verdict: 'healthy', rule: null, cause: null, since: null, findings: [] },
    ...rest,
  };
}

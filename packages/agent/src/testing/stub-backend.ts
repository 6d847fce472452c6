import { emptyGpuSnapshot, type GpuSnapshot, type HostFacts, type HostSample, type ToolFailure } from '@gpufleet/protocol';
import type { GpuReadout, HardwareBackend } from '../hardware/backend.js';

/** A GPU snapshot with identity and a few readings, for tests. */
export function stubGpu(index: number, overrides: Partial<GpuSnapshot> = {}): GpuSnapshot {
  return {
    ...emptyGpuSnapshot('nvidia', index),
    uuid: `GPU-0000000${index}-1111-2222-3333-444444444444`,
    pciBusId: `0000:${(0x18 + index).toString(16).padStart(2, '0')}:00.0`,
    name: 'NVIDIA H100 80GB HBM3',
    memoryTotalBytes: 81559 * 2 ** 20,
    temperatureC: 30 + index,
    utilizationPct: 0,
    ...overrides,
  };
}

/**
 * A hardware backend whose answers tests set directly: GPUs, tool failures, and collections
 * that throw. Counts calls.
 */
export class StubBackend implements HardwareBackend {
  gpuList: GpuSnapshot[];
  failures: ToolFailure[] = [];
  throwOnGpus: Error | null = null;
  throwOnHostSample: Error | null = null;
  throwOnHostFacts: Error | null = null;
  calls = { hostFacts: 0, hostSample: 0, gpus: 0 };

  constructor(
    gpuCount = 2,
    readonly hostname = 'stub-host',
  ) {
    this.gpuList = Array.from({ length: gpuCount }, (_, i) => stubGpu(i));
  }

  async hostFacts(): Promise<HostFacts> {
    this.calls.hostFacts++;
    if (this.throwOnHostFacts) throw this.throwOnHostFacts;
    return {
      hostname: this.hostname,
      os: { id: 'debian', name: 'Debian GNU/Linux', version: '12' },
      kernel: '6.1.0-test',
      arch: 'x86_64',
      cpu: { model: 'Test CPU', cores: 4, threads: 8 },
      memoryTotalBytes: 64 * 2 ** 30,
      disks: [],
      network: [],
      containerRuntime: null,
      agentVersion: 'stub',
      bootTime: null,
    };
  }

  async hostSample(): Promise<HostSample> {
    this.calls.hostSample++;
    if (this.throwOnHostSample) throw this.throwOnHostSample;
    return { cpuPct: 12.5, load1: 0.5, load5: 0.4, load15: 0.3, memoryUsedBytes: 2 ** 30, memoryTotalBytes: 64 * 2 ** 30, disks: [], net: [] };
  }

  async gpus(): Promise<GpuReadout> {
    this.calls.gpus++;
    if (this.throwOnGpus) throw this.throwOnGpus;
    return { snapshots: this.gpuList.map((g) => ({ ...g })), failures: this.failures.map((f) => ({ ...f })) };
  }
}

import type { GpuSnapshot, HostFacts, HostSample, ToolFailure } from '@gpufleet/protocol';

/** What every vendor collector found on one pass: GPUs it could read and tools that failed. */
export interface GpuReadout {
  snapshots: GpuSnapshot[];
  failures: ToolFailure[];
}

/**
 * Where the agent's facts come from. The real backend reads /proc, /sys and the vendor tools;
 * the simulator's fake backend models hosts on the recorded fixtures. Both pass one contract suite.
 */
export interface HardwareBackend {
  hostFacts(): Promise<HostFacts>;
  hostSample(): Promise<HostSample>;
  gpus(): Promise<GpuReadout>;
}

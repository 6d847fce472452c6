import type { GpuSnapshot, GpuVendor, ToolFailure } from '@gpufleet/protocol';
import type { GpuReadout } from '../backend.js';

/** One vendor's part of a pass. Sources keep their own state between passes. */
export interface VendorSource {
  readonly vendor: GpuVendor;
  read(): Promise<GpuReadout>;
}

/** What a vendor whose tools are not installed contributes: nothing, and no failure. */
export function absent(): GpuReadout {
  return { snapshots: [], failures: [] };
}

export function readout(snapshots: GpuSnapshot[], failures: ToolFailure[] = []): GpuReadout {
  return { snapshots, failures };
}

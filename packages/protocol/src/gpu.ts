import { z } from 'zod';

export const GPU_VENDORS = ['nvidia', 'amd', 'intel', 'huawei'] as const;
export const GpuVendor = z.enum(GPU_VENDORS);
export type GpuVendor = z.infer<typeof GpuVendor>;

/** Why the GPU's clocks are held down right now (NVIDIA clocks-event reasons, vendor-neutral names). */
export const THROTTLE_REASONS = [
  'gpu_idle',
  'applications_clocks_setting',
  'sw_power_cap',
  'hw_slowdown',
  'hw_thermal_slowdown',
  'hw_power_brake_slowdown',
  'sw_thermal_slowdown',
  'sync_boost',
  'display_clock_setting',
] as const;
export const ThrottleReason = z.enum(THROTTLE_REASONS);
export type ThrottleReason = z.infer<typeof ThrottleReason>;

const num = z.number().finite().nullable();
const int = z.number().int().nullable();

export const MigDevice = z.object({
  gpuInstanceId: z.number().int(),
  computeInstanceId: z.number().int().nullable(),
  uuid: z.string().nullable(),
  profile: z.string().nullable(),
  memoryTotalBytes: num,
  memoryUsedBytes: num,
});
export type MigDevice = z.infer<typeof MigDevice>;

/**
 * Everything one vendor tool says about one GPU at one moment: identity, static facts and,
 * where the tool reports them, current readings. Fields a tool does not report are null.
 * GPUs are keyed by UUID and PCI bus id (canonical `0000:17:00.0`), never by index alone.
 */
export const GpuSnapshot = z.object({
  vendor: GpuVendor,
  index: z.number().int().nonnegative(),
  uuid: z.string().nullable(),
  name: z.string().nullable(),
  pciBusId: z.string().nullable(),
  serial: z.string().nullable(),
  memoryTotalBytes: num,
  driverVersion: z.string().nullable(),
  /** CUDA (NVIDIA), ROCm (AMD) or CANN (Ascend) runtime version the driver offers. */
  runtimeVersion: z.string().nullable(),
  vbiosVersion: z.string().nullable(),
  powerLimitW: num,
  migMode: z.enum(['enabled', 'disabled']).nullable(),
  migDevices: z.array(MigDevice),
  eccMode: z.enum(['enabled', 'disabled']).nullable(),

  temperatureC: num,
  memoryTemperatureC: num,
  utilizationPct: num,
  /** Memory controller (copy engine) utilization: dcgm's MEM_COPY_UTIL. */
  memoryUtilizationPct: num,
  memoryUsedBytes: num,
  powerDrawW: num,
  smClockMhz: num,
  memClockMhz: num,
  fanPct: num,
  eccCorrectedVolatile: int,
  eccUncorrectedVolatile: int,
  eccCorrectedAggregate: int,
  eccUncorrectedAggregate: int,
  retiredPagesSbe: int,
  retiredPagesDbe: int,
  retiredPagesPending: z.boolean().nullable(),
  remappedRowsCorrectable: int,
  remappedRowsUncorrectable: int,
  remappedRowsPending: z.boolean().nullable(),
  remappedRowsFailure: z.boolean().nullable(),
  throttleReasons: z.array(ThrottleReason),
  /**
   * PCIe replays since the driver loaded (nvidia-smi -q "Replays Since Reset", dcgm's
   * PCIE_REPLAY_COUNTER). Optional: collectors and agents older than the field leave it out.
   */
  pcieReplayCount: int.optional(),
});
export type GpuSnapshot = z.infer<typeof GpuSnapshot>;

/** A snapshot with every optional field null: parsers start from this and fill in what they find. */
export function emptyGpuSnapshot(vendor: GpuVendor, index: number): GpuSnapshot {
  return {
    vendor,
    index,
    uuid: null,
    name: null,
    pciBusId: null,
    serial: null,
    memoryTotalBytes: null,
    driverVersion: null,
    runtimeVersion: null,
    vbiosVersion: null,
    powerLimitW: null,
    migMode: null,
    migDevices: [],
    eccMode: null,
    temperatureC: null,
    memoryTemperatureC: null,
    utilizationPct: null,
    memoryUtilizationPct: null,
    memoryUsedBytes: null,
    powerDrawW: null,
    smClockMhz: null,
    memClockMhz: null,
    fanPct: null,
    eccCorrectedVolatile: null,
    eccUncorrectedVolatile: null,
    eccCorrectedAggregate: null,
    eccUncorrectedAggregate: null,
    retiredPagesSbe: null,
    retiredPagesDbe: null,
    retiredPagesPending: null,
    remappedRowsCorrectable: null,
    remappedRowsUncorrectable: null,
    remappedRowsPending: null,
    remappedRowsFailure: null,
    throttleReasons: [],
    pcieReplayCount: null,
  };
}

/** The static part of a GPU kept in the inventory. */
export const GpuInfo = GpuSnapshot.pick({
  vendor: true,
  index: true,
  uuid: true,
  name: true,
  pciBusId: true,
  serial: true,
  memoryTotalBytes: true,
  driverVersion: true,
  runtimeVersion: true,
  vbiosVersion: true,
  powerLimitW: true,
  migMode: true,
  migDevices: true,
  eccMode: true,
});
export type GpuInfo = z.infer<typeof GpuInfo>;

/** The periodic part of a GPU sent with every metrics frame. */
export const GpuSample = GpuSnapshot.pick({
  uuid: true,
  pciBusId: true,
  index: true,
  temperatureC: true,
  memoryTemperatureC: true,
  utilizationPct: true,
  memoryUtilizationPct: true,
  memoryUsedBytes: true,
  memoryTotalBytes: true,
  powerDrawW: true,
  powerLimitW: true,
  smClockMhz: true,
  memClockMhz: true,
  fanPct: true,
  eccCorrectedVolatile: true,
  eccUncorrectedVolatile: true,
  eccCorrectedAggregate: true,
  eccUncorrectedAggregate: true,
  retiredPagesPending: true,
  remappedRowsPending: true,
  remappedRowsFailure: true,
  throttleReasons: true,
}).extend({
  // Added after the first release: optional, so samples from older agents still validate.
  remappedRowsCorrectable: int.optional(),
  remappedRowsUncorrectable: int.optional(),
  pcieReplayCount: int.optional(),
});
export type GpuSample = z.infer<typeof GpuSample>;

export function gpuInfoOf(s: GpuSnapshot): GpuInfo {
  return GpuInfo.parse(s);
}

export function gpuSampleOf(s: GpuSnapshot): GpuSample {
  return GpuSample.parse(s);
}

/** A vendor tool that is installed but failed: reported, never a crash. */
export const ToolFailure = z.object({
  vendor: GpuVendor,
  tool: z.string(),
  message: z.string().max(4096),
  exitCode: z.number().int().nullable(),
});
export type ToolFailure = z.infer<typeof ToolFailure>;

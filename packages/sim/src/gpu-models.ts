import type { GpuVendor } from '@gpufleet/protocol';

/** GPU models the simulator can build hosts of. */
export const SIM_GPU_MODELS = ['H100', 'A100', 'L40S', 'MI300X'] as const;
export type SimGpuModel = (typeof SIM_GPU_MODELS)[number];

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** What one simulated GPU model looks like to its vendor tool, and the host it usually sits in. */
export interface GpuModelSpec {
  model: SimGpuModel;
  vendor: GpuVendor;
  /** The vendor tool whose failure the fault hook imitates. */
  tool: string;
  name: string;
  memoryTotalBytes: number;
  driverVersion: string;
  /** CUDA / ROCm version; null where the fixture does not say. */
  runtimeVersion: string | null;
  vbiosVersion: string | null;
  powerLimitW: number;
  idlePowerW: number;
  idleTempC: number;
  /** Steady temperature at full load. */
  loadTempC: number;
  /** Memory (HBM) temperature above the core, or null where the tool reports none. */
  memoryTempOffsetC: number | null;
  idleSmClockMhz: number;
  maxSmClockMhz: number;
  idleMemClockMhz: number;
  maxMemClockMhz: number;
  eccMode: 'enabled' | 'disabled' | null;
  migMode: 'enabled' | 'disabled' | null;
  /** Whether the tool reports row remapping counters (NVIDIA datacenter parts). */
  remapsRows: boolean;
  /** The host such GPUs usually sit in (simulated, not from a fixture). */
  host: { cpuModel: string; cores: number; threads: number; memoryTotalBytes: number };
}

/**
 * Constants per model. Values marked "fixture" are copied from the named recorded tool output
 * under shared/fixtures; the rest are marked with where they come from.
 */
export const GPU_MODELS: Record<SimGpuModel, GpuModelSpec> = {
  // fixture: nvidia/nvidia-smi_-q__8x_H100_SXM_565.57.01__idle.txt (GPU 00000000:18:00.0 and its 7 peers)
  H100: {
    model: 'H100',
    vendor: 'nvidia',
    tool: 'nvidia-smi',
    name: 'NVIDIA H100 80GB HBM3',
    memoryTotalBytes: 81559 * MiB, // FB Memory Usage / Total : 81559 MiB
    driverVersion: '565.57.01',
    runtimeVersion: '12.7', // CUDA Version
    vbiosVersion: '96.00.74.00.01',
    powerLimitW: 700, // Current Power Limit : 700.00 W
    idlePowerW: 86, // Power Draw 82.81-100.89 W across the 8 idle GPUs
    idleTempC: 30, // GPU Current Temp 28-31 C idle
    loadTempC: 68, // not in the idle fixture: a typical air-cooled SXM figure under load
    memoryTempOffsetC: 7, // Memory Current Temp 36-38 C vs GPU 28-31 C
    idleSmClockMhz: 345, // Clocks / SM : 345 MHz
    maxSmClockMhz: 1980, // Max Clocks / SM : 1980 MHz
    idleMemClockMhz: 2619, // Clocks / Memory : 2619 MHz (HBM runs at full clock when idle)
    maxMemClockMhz: 2619,
    eccMode: 'enabled',
    migMode: 'disabled',
    remapsRows: true,
    host: { cpuModel: 'Intel(R) Xeon(R) Platinum 8480+', cores: 112, threads: 224, memoryTotalBytes: 2048 * GiB },
  },
  // fixture: nvidia/nvidia-smi_table__4x_A100_SXM4_555.42.02__idle.txt (the table names the 80 GB part)
  A100: {
    model: 'A100',
    vendor: 'nvidia',
    tool: 'nvidia-smi',
    name: 'NVIDIA A100-SXM4-80GB',
    memoryTotalBytes: 81920 * MiB, // Memory-Usage column: 1MiB / 81920MiB
    driverVersion: '555.42.02',
    runtimeVersion: '12.5',
    vbiosVersion: null, // the table does not show it
    powerLimitW: 500, // Pwr:Usage/Cap 59W / 500W
    idlePowerW: 59, // 58-60 W idle
    idleTempC: 23, // 22-25 C idle
    loadTempC: 65, // not in the fixture
    memoryTempOffsetC: 6, // not in the fixture (HBM2e parts report it)
    idleSmClockMhz: 210, // not in the fixture: NVIDIA's A100 SXM4 idle clock
    maxSmClockMhz: 1410, // not in the fixture: NVIDIA's A100 SXM4 boost clock
    idleMemClockMhz: 1593, // not in the fixture: NVIDIA's A100 80GB memory clock
    maxMemClockMhz: 1593,
    eccMode: 'enabled', // Volatile Uncorr. ECC shows 0 (not N/A), so ECC is on
    migMode: 'disabled', // MIG M. : Disabled
    remapsRows: true,
    host: { cpuModel: 'AMD EPYC 7763 64-Core Processor', cores: 128, threads: 256, memoryTotalBytes: 1024 * GiB },
  },
  // fixture: nvidia/nvidia-smi_-q__nvidia-l40s__595.80__load.txt (and the matching table file)
  L40S: {
    model: 'L40S',
    vendor: 'nvidia',
    tool: 'nvidia-smi',
    name: 'NVIDIA L40S',
    memoryTotalBytes: 46068 * MiB, // FB Memory Usage / Total : 46068 MiB
    driverVersion: '595.80',
    runtimeVersion: '13.2',
    vbiosVersion: '95.02.66.00.02',
    powerLimitW: 350, // Current Power Limit : 350.00 W
    idlePowerW: 80, // fixture shows 110 W at 9% load; idle is an estimate below that
    idleTempC: 40, // fixture shows 54 C at 9% load (passively cooled); idle is an estimate
    loadTempC: 78, // not in the fixture
    memoryTempOffsetC: null, // Memory Current Temp : N/A (GDDR6)
    idleSmClockMhz: 210, // not in the fixture
    maxSmClockMhz: 2520, // Max Clocks / SM : 2520 MHz
    idleMemClockMhz: 405, // not in the fixture
    maxMemClockMhz: 9001, // Max Clocks / Memory : 9001 MHz
    eccMode: 'enabled', // ECC Mode / Current : Enabled
    migMode: null, // MIG Mode / Current : N/A
    remapsRows: true,
    host: { cpuModel: 'AMD EPYC 9354 32-Core Processor', cores: 64, threads: 128, memoryTotalBytes: 768 * GiB },
  },
  // fixture: amd/rocm-smi_-a_text__4x_MI300X.txt (and amd/rocm-smi_table__4x_MI300X.txt)
  MI300X: {
    model: 'MI300X',
    vendor: 'amd',
    tool: 'rocm-smi',
    name: 'AMD Instinct MI300X OAM', // Card series
    memoryTotalBytes: 192 * GiB, // not in the fixture: AMD's published 192 GB HBM3
    driverVersion: '6.7.0', // Driver version: 6.7.0
    runtimeVersion: null, // the fixture does not name the ROCm release
    vbiosVersion: '113-MI3SRIOV-001',
    powerLimitW: 750, // Max Graphics Package Power (W): 750.0
    idlePowerW: 133, // Current Socket Graphics Package Power 131-137 W idle
    idleTempC: 36, // Temperature (Sensor junction) 34-38 C idle
    loadTempC: 80, // not in the fixture
    memoryTempOffsetC: -2, // Temperature (Sensor memory) 32-36 C, ~2 C under the junction
    idleSmClockMhz: 137, // sclk clock level: S: (137Mhz)
    maxSmClockMhz: 2100, // Valid sclk range: 139Mhz - 2100Mhz
    idleMemClockMhz: 900, // mclk clock level: 0: (900Mhz)
    maxMemClockMhz: 1300, // Valid mclk range: 900Mhz - 1300Mhz
    eccMode: null, // not in the fixture
    migMode: null,
    remapsRows: false,
    host: { cpuModel: 'AMD EPYC 9654 96-Core Processor', cores: 192, threads: 384, memoryTotalBytes: 2304 * GiB },
  },
};

export function isSimGpuModel(value: string): value is SimGpuModel {
  return (SIM_GPU_MODELS as readonly string[]).includes(value);
}

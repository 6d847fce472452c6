import { describe, expect, it } from 'vitest';
import { FleetError, GpuSnapshot } from '@gpufleet/protocol';
import { bundleSectionNames, extractBundleSection } from '../../testing/capture-bundle.js';
import { listFixtures, readFixture } from '../../testing/fixtures.js';
import { parseNvidiaSmiQ } from './parse-smi-q.js';

const MIB = 1048576;

function expectInvalid(input: string, message: RegExp): void {
  let caught: unknown;
  try {
    parseNvidiaSmiQ(input);
  } catch (err) {
    caught = err;
  }
  expect(FleetError.is(caught, 'invalid_argument'), `input ${JSON.stringify(input.slice(0, 40))}`).toBe(true);
  expect((caught as Error).message).toMatch(message);
}

/** The values read by hand from each recorded `-q` report. */
interface Expected {
  driver: string;
  cuda: string;
  busIds: string[];
  name: string;
  totalMiB: number;
  usedMiB: number[];
  temps: number[];
  memTemps: Array<number | null>;
  powerW: number[];
  limitW: number;
  util: Array<number | null>;
  smMhz: number[];
  mig: 'enabled' | 'disabled' | null;
  throttle: string[][];
}

const H100_LOAD: Expected = {
  driver: '590.48.01',
  cuda: '13.1',
  busIds: ['0000:00:09.0'],
  name: 'NVIDIA H100 80GB HBM3',
  totalMiB: 81559,
  usedMiB: [19818],
  temps: [59],
  memTemps: [55],
  powerW: [629.45],
  limitW: 700,
  util: [100],
  smMhz: [1980],
  mig: 'disabled',
  throttle: [[]],
};
const L40S_LOAD: Expected = {
  driver: '595.80',
  cuda: '13.2',
  busIds: ['0000:01:00.0'],
  name: 'NVIDIA L40S',
  totalMiB: 46068,
  usedMiB: [1235],
  temps: [54],
  memTemps: [null],
  powerW: [110.24],
  limitW: 350,
  util: [9],
  smMhz: [2520],
  mig: null,
  throttle: [[]],
};

const STANDALONE: Record<string, Expected> = {
  'nvidia-smi_-q__8x_H100_SXM_565.57.01__idle.txt': {
    driver: '565.57.01',
    cuda: '12.7',
    busIds: ['18', '2a', '3a', '5d', '9a', 'ab', 'ba', 'db'].map((b) => `0000:${b}:00.0`),
    name: 'NVIDIA H100 80GB HBM3',
    totalMiB: 81559,
    usedMiB: Array(8).fill(1),
    temps: [30, 30, 31, 29, 28, 30, 29, 29],
    memTemps: [36, 36, 38, 37, 36, 38, 37, 36],
    powerW: [100.89, 82.81, 85.98, 85.48, 84.94, 85.27, 86.05, 75.09],
    limitW: 700,
    util: Array(8).fill(0),
    smMhz: Array(8).fill(345),
    mig: 'disabled',
    throttle: Array(8).fill(['gpu_idle']),
  },
  'nvidia-smi_-q__nvidia-h100-80gb-hbm3__590.48.01__load.txt': H100_LOAD,
  'nvidia-smi_-q__nvidia-l40s__595.80__load.txt': L40S_LOAD,
};

const MIG_ONE = {
  driver: '590.48.01',
  cuda: '13.1',
  busIds: ['0000:00:09.0'],
  name: 'NVIDIA H100 80GB HBM3',
  totalMiB: 81559,
  limitW: 700,
  util: [null],
  mig: 'enabled' as const,
};
const BUNDLED: Record<string, Record<string, Expected>> = {
  'nvidia-smi_capture_bundle__nvidia-h100-80gb-hbm3__590.48.01.txt': {
    'idle :: query (-q)': { ...H100_LOAD, usedMiB: [0], temps: [41], memTemps: [48], powerW: [69.85], util: [0], smMhz: [345], throttle: [['gpu_idle']] },
    'load :: query (-q)': H100_LOAD,
  },
  'nvidia-smi_capture_bundle__nvidia-h100-mig__590.48.01.txt': {
    'idle :: query (-q)': { ...MIG_ONE, usedMiB: [59], temps: [42], memTemps: [48], powerW: [71.27], smMhz: [345], throttle: [['gpu_idle']] },
    'load :: query (-q)': { ...MIG_ONE, usedMiB: [11125], temps: [53], memTemps: [58], powerW: [432.21], smMhz: [1980], throttle: [[]] },
  },
  'nvidia-smi_capture_bundle__nvidia-l40s__595.80.txt': {
    'idle :: query (-q)': { ...L40S_LOAD, usedMiB: [0], temps: [64], powerW: [183.28], util: [100], throttle: [[]] },
    'load :: query (-q)': L40S_LOAD,
  },
};

function checkAgainst(gpus: GpuSnapshot[], e: Expected): void {
  expect(gpus.map((g) => g.pciBusId)).toEqual(e.busIds);
  expect(gpus.map((g) => g.index)).toEqual(e.busIds.map((_, i) => i));
  for (const g of gpus) {
    expect(GpuSnapshot.parse(g)).toEqual(g);
    expect(g.vendor).toBe('nvidia');
    expect(g.name).toBe(e.name);
    expect(g.driverVersion).toBe(e.driver);
    expect(g.runtimeVersion).toBe(e.cuda);
    expect(g.memoryTotalBytes).toBe(e.totalMiB * MIB);
    expect(g.powerLimitW).toBe(e.limitW);
    expect(g.migMode).toBe(e.mig);
    expect(g.uuid).toMatch(/^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  }
  expect(gpus.map((g) => g.memoryUsedBytes)).toEqual(e.usedMiB.map((m) => m * MIB));
  expect(gpus.map((g) => g.temperatureC)).toEqual(e.temps);
  expect(gpus.map((g) => g.memoryTemperatureC)).toEqual(e.memTemps);
  expect(gpus.map((g) => g.powerDrawW)).toEqual(e.powerW);
  expect(gpus.map((g) => g.utilizationPct)).toEqual(e.util);
  expect(gpus.map((g) => g.smClockMhz)).toEqual(e.smMhz);
  expect(gpus.map((g) => g.throttleReasons)).toEqual(e.throttle);
}

describe('parseNvidiaSmiQ on every recorded nvidia-smi -q report', () => {
  const files = listFixtures('nvidia', /^nvidia-smi_-q__.*\.txt$/);

  it('has a hand-read expectation for every standalone -q fixture', () => {
    expect(files).toEqual(Object.keys(STANDALONE).sort());
  });

  for (const file of files) {
    it(`reads ${file}`, () => {
      checkAgainst(parseNvidiaSmiQ(readFixture('nvidia', file)), STANDALONE[file]!);
    });
  }

  const bundles = listFixtures('nvidia', /^nvidia-smi_capture_bundle__.*\.txt$/);
  it('has a hand-read expectation for every -q section of every capture bundle', () => {
    expect(bundles).toEqual(Object.keys(BUNDLED).sort());
    for (const bundle of bundles) {
      const names = bundleSectionNames(readFixture('nvidia', bundle)).filter((n) => n.endsWith(':: query (-q)'));
      expect(names.sort()).toEqual(Object.keys(BUNDLED[bundle]!).sort());
    }
  });

  for (const [bundle, sections] of Object.entries(BUNDLED)) {
    for (const [section, expected] of Object.entries(sections)) {
      it(`reads ${bundle} / ${section}`, () => {
        const text = extractBundleSection(readFixture('nvidia', bundle), section);
        expect(text).toContain('==============NVSMI LOG==============');
        checkAgainst(parseNvidiaSmiQ(text), expected);
      });
    }
  }

  it('reads the 8x H100 identities GPU by GPU', () => {
    const gpus = parseNvidiaSmiQ(readFixture('nvidia', 'nvidia-smi_-q__8x_H100_SXM_565.57.01__idle.txt'));
    expect(gpus.map((g) => [g.uuid, g.serial])).toEqual([
      ['GPU-b42dd28e-ffdd-8720-1df0-98bd8cdc05b1', '1654423001593'],
      ['GPU-7c3cadbd-17e5-0913-f69b-c618122ea0cd', '1654223054577'],
      ['GPU-2d50cdf6-dd67-9f2e-855e-0d4d6d395a2f', '1654423003947'],
      ['GPU-d1838e76-90e6-4408-711d-aeeaa2e1fd14', '1654223056472'],
      ['GPU-72be6e5d-3c1b-0d37-98ac-d3ef159f2589', '1654423003267'],
      ['GPU-52378fbc-3124-3895-13b6-1dd179563e0f', '1654323021387'],
      ['GPU-83a5aebb-b71c-c570-aa83-185e1233fe97', '1654423003872'],
      ['GPU-33135771-a848-ece1-b61e-489e221d663c', '1654223055370'],
    ]);
    expect(gpus[0]!.vbiosVersion).toBe('96.00.74.00.01');
    expect(gpus[0]!.eccMode).toBe('enabled');
    expect(gpus[0]!.eccCorrectedVolatile).toBe(0);
    expect(gpus[0]!.eccUncorrectedAggregate).toBe(0);
    expect(gpus[0]!.retiredPagesSbe).toBeNull(); // Single Bit ECC : N/A
    expect(gpus[0]!.remappedRowsCorrectable).toBe(0);
    expect(gpus[0]!.remappedRowsFailure).toBe(false);
    expect(gpus[0]!.fanPct).toBeNull();
    expect(gpus[0]!.memClockMhz).toBe(2619);
  });

  it('reads the H100 load report health fields and memory utilization', () => {
    const [gpu] = parseNvidiaSmiQ(readFixture('nvidia', 'nvidia-smi_-q__nvidia-h100-80gb-hbm3__590.48.01__load.txt'));
    expect(gpu!.memoryUtilizationPct).toBe(11);
    expect(gpu!.serial).toBe('0000000000000');
    expect(gpu!.vbiosVersion).toBe('96.00.A5.00.01');
    expect([gpu!.eccCorrectedVolatile, gpu!.eccUncorrectedVolatile, gpu!.eccCorrectedAggregate, gpu!.eccUncorrectedAggregate]).toEqual([0, 0, 0, 0]);
    expect([gpu!.remappedRowsCorrectable, gpu!.remappedRowsUncorrectable, gpu!.remappedRowsPending, gpu!.remappedRowsFailure]).toEqual([0, 0, false, false]);
    expect(gpu!.retiredPagesPending).toBeNull();
    expect(gpu!.pcieReplayCount).toBe(9); // PCI > Replays Since Reset : 9
  });

  it('reads no PCIe replay count where nvidia-smi prints N/A or garbage', () => {
    const text = readFixture('nvidia', 'nvidia-smi_-q__nvidia-h100-80gb-hbm3__590.48.01__load.txt');
    for (const bad of ['N/A', '[Unknown Error]', 'lots', '-3']) {
      const [gpu] = parseNvidiaSmiQ(text.replace(/(Replays Since Reset\s+: )9/, `$1${bad}`));
      expect(gpu!.pcieReplayCount, bad).toBeNull();
    }
  });

  it('reads the MIG devices of the MIG capture', () => {
    const bundle = readFixture('nvidia', 'nvidia-smi_capture_bundle__nvidia-h100-mig__590.48.01.txt');
    const [idle] = parseNvidiaSmiQ(extractBundleSection(bundle, 'idle :: query (-q)'));
    expect(idle!.migDevices).toEqual([
      { gpuInstanceId: 2, computeInstanceId: 0, uuid: null, profile: null, memoryTotalBytes: 40448 * MIB, memoryUsedBytes: 26 * MIB },
      { gpuInstanceId: 3, computeInstanceId: 0, uuid: null, profile: null, memoryTotalBytes: 20096 * MIB, memoryUsedBytes: 17 * MIB },
      { gpuInstanceId: 9, computeInstanceId: 0, uuid: null, profile: null, memoryTotalBytes: 9984 * MIB, memoryUsedBytes: 9 * MIB },
      { gpuInstanceId: 10, computeInstanceId: 0, uuid: null, profile: null, memoryTotalBytes: 9984 * MIB, memoryUsedBytes: 9 * MIB },
    ]);
    // `Remapped Rows : N/A` under MIG: nothing is known.
    expect([idle!.remappedRowsCorrectable, idle!.remappedRowsPending, idle!.remappedRowsFailure]).toEqual([null, null, null]);
    const [load] = parseNvidiaSmiQ(extractBundleSection(bundle, 'load :: query (-q)'));
    expect(load!.migDevices.map((d) => d.memoryUsedBytes)).toEqual([11091, 17, 9, 9].map((m) => m * MIB));
  });

  it('gives the same result for a standalone report and the bundle section it was cut from', () => {
    const bundle = readFixture('nvidia', 'nvidia-smi_capture_bundle__nvidia-l40s__595.80.txt');
    expect(parseNvidiaSmiQ(extractBundleSection(bundle, 'load :: query (-q)'))).toEqual(
      parseNvidiaSmiQ(readFixture('nvidia', 'nvidia-smi_-q__nvidia-l40s__595.80__load.txt')),
    );
  });
});

describe('parseNvidiaSmiQ on older spellings', () => {
  // Laid out like the recorded 8x H100 report, with the section names of older drivers
  // (Clocks Throttle Reasons, Power Readings / Power Limit, Single Bit / Double Bit ECC,
  // a `MIG Devices` container). Counts and the active reasons are illustrative: the captures
  // only show zero or N/A there.
  const OLD = `==============NVSMI LOG==============

Timestamp                                 : Mon Jan  9 10:00:00 2023
Driver Version                            : 470.82.01
CUDA Version                              : 11.4

Attached GPUs                             : 1
GPU 00000000:07:00.0
    Product Name                          : NVIDIA A100-SXM4-40GB
    MIG Mode
        Current                           : Enabled
        Pending                           : Enabled
    MIG Devices
        MIG Device
            GPU Instance ID               : 1
            Compute Instance ID           : 0
            FB Memory Usage
                Total                     : 9856 MiB
                Used                      : 3 MiB
    Serial Number                         : 1564720004631
    GPU UUID                              : GPU-8b4e5c3a-0000-1111-2222-333344445555
    VBIOS Version                         : 92.00.19.00.10
    PCI
        Bus Id                            : 00000000:07:00.0
    Fan Speed                             : 41 %
    Clocks Throttle Reasons
        Idle                              : Not Active
        Applications Clocks Setting       : Not Active
        SW Power Cap                      : Active
        HW Slowdown                       : Active
            HW Thermal Slowdown           : Active
            HW Power Brake Slowdown       : Not Active
        Sync Boost                        : Not Active
        SW Thermal Slowdown               : Not Active
        Display Clock Setting             : Not Active
    FB Memory Usage
        Total                             : 40536 MiB
        Used                              : 0 MiB
    Utilization
        Gpu                               : 7 %
        Memory                            : 3 %
    Ecc Mode
        Current                           : Enabled
        Pending                           : Enabled
    ECC Errors
        Volatile
            Single Bit
                Device Memory             : 3
                Register File             : 0
                Total                     : 3
            Double Bit
                Device Memory             : 1
                Total                     : 1
        Aggregate
            Single Bit
                Total                     : 10
            Double Bit
                Total                     : 2
    Retired Pages
        Single Bit ECC                    : 2
        Double Bit ECC                    : 1
        Pending Page Blacklist            : Yes
    Remapped Rows
        Correctable Error                 : 3
        Uncorrectable Error               : 1
        Pending                           : Yes
        Remapping Failure Occurred        : Yes
    Temperature
        GPU Current Temp                  : 33 C
        Memory Current Temp               : 37 C
    Power Readings
        Power Management                  : Supported
        Power Draw                        : 57.01 W
        Power Limit                       : 350.00 W
        Enforced Power Limit              : 400.00 W
    Clocks
        Graphics                          : 210 MHz
        SM                                : 210 MHz
        Memory                            : 1215 MHz
`;

  it('reads them all', () => {
    const [gpu, ...rest] = parseNvidiaSmiQ(OLD.replace(/\n/g, '\r\n'));
    expect(rest).toEqual([]);
    expect(GpuSnapshot.parse(gpu)).toEqual(gpu);
    expect(gpu).toMatchObject({
      name: 'NVIDIA A100-SXM4-40GB',
      uuid: 'GPU-8b4e5c3a-0000-1111-2222-333344445555',
      serial: '1564720004631',
      pciBusId: '0000:07:00.0',
      driverVersion: '470.82.01',
      runtimeVersion: '11.4',
      vbiosVersion: '92.00.19.00.10',
      memoryTotalBytes: 40536 * MIB,
      memoryUsedBytes: 0,
      fanPct: 41,
      utilizationPct: 7,
      memoryUtilizationPct: 3,
      eccMode: 'enabled',
      eccCorrectedVolatile: 3,
      eccUncorrectedVolatile: 1,
      eccCorrectedAggregate: 10,
      eccUncorrectedAggregate: 2,
      retiredPagesSbe: 2,
      retiredPagesDbe: 1,
      retiredPagesPending: true,
      remappedRowsCorrectable: 3,
      remappedRowsUncorrectable: 1,
      remappedRowsPending: true,
      remappedRowsFailure: true,
      temperatureC: 33,
      memoryTemperatureC: 37,
      powerDrawW: 57.01,
      powerLimitW: 400,
      smClockMhz: 210,
      memClockMhz: 1215,
      migMode: 'enabled',
      throttleReasons: ['sw_power_cap', 'hw_slowdown', 'hw_thermal_slowdown'],
    });
    expect(gpu!.migDevices).toEqual([
      { gpuInstanceId: 1, computeInstanceId: 0, uuid: null, profile: null, memoryTotalBytes: 9856 * MIB, memoryUsedBytes: 3 * MIB },
    ]);
  });
});

describe('parseNvidiaSmiQ on partial and wrong input', () => {
  const eight = readFixture('nvidia', 'nvidia-smi_-q__8x_H100_SXM_565.57.01__idle.txt');

  it('accepts a report filtered to one GPU with -i (fewer sections than Attached GPUs)', () => {
    const second = eight.indexOf('GPU 00000000:2A:00.0');
    const gpus = parseNvidiaSmiQ(eight.slice(0, second));
    expect(gpus.map((g) => g.uuid)).toEqual(['GPU-b42dd28e-ffdd-8720-1df0-98bd8cdc05b1']);
  });

  it('gives [] for a report with no attached GPUs', () => {
    expect(parseNvidiaSmiQ('==============NVSMI LOG==============\n\nDriver Version : 595.80\nAttached GPUs : 0\n')).toEqual([]);
  });

  it('refuses a report cut before its first GPU', () => {
    expectInvalid(eight.slice(0, eight.indexOf('GPU 00000000:18:00.0')), /'Attached GPUs' says 8 but no GPU section follows \(truncated\?\)/);
  });

  it('refuses more GPU sections than attached GPUs', () => {
    expectInvalid(eight.replace(/Attached GPUs(\s+): 8/, 'Attached GPUs$1: 2'), /8 GPU sections but 'Attached GPUs' says 2/);
  });

  it('refuses empty input', () => {
    expectInvalid('', /expected nvidia-smi -q text output, got empty input/);
    expectInvalid('\n \n', /got empty input/);
  });

  it('refuses binary junk', () => {
    const junk = String.fromCharCode(...Array.from({ length: 512 }, (_, i) => (i * 131 + 7) % 256));
    expectInvalid(junk, /expected nvidia-smi -q text output: found neither an 'Attached GPUs' line nor a 'GPU <bus id>' section/);
  });

  it('refuses XML and CSV, saying what it expected', () => {
    expectInvalid(readFixture('nvidia', 'nvidia-smi_-q_-x__RTX4000-SFF-Ada_v13_telegraf.xml'), /expected nvidia-smi -q text output.*looks like XML/);
    expectInvalid(readFixture('nvidia', 'nvidia-smi_query-gpu_csv_allfields__nvidia-l40s__595.80__load.csv'), /expected nvidia-smi -q text output/);
  });

  it('refuses the default nvidia-smi table', () => {
    expectInvalid(readFixture('nvidia', 'nvidia-smi_table__nvidia-l40s__595.80__load.txt'), /expected nvidia-smi -q text output/);
  });
});

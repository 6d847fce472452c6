import type { GpuInfo, GpuSample, HostFacts } from '@gpufleet/protocol';

/** Minimal valid inventory for tests that speak the protocol by hand. */
export function testHostFacts(hostname: string): HostFacts {
  return {
    hostname,
    os: { id: 'debian', name: 'Debian GNU/Linux', version: '12' },
    kernel: '6.1.0-test',
    arch: 'x64',
    cpu: { model: 'Test CPU', cores: 4, threads: 8 },
    memoryTotalBytes: 64 * 2 ** 30,
    disks: [],
    network: [],
    containerRuntime: null,
    agentVersion: '0.1.0-test',
    bootTime: null,
  };
}

export function testGpu(index: number, name = 'NVIDIA H100 80GB HBM3'): GpuInfo {
  return {
    vendor: 'nvidia',
    index,
    uuid: `GPU-00000000-0000-0000-0000-00000000000${index}`,
    name,
    pciBusId: `0000:${(0x17 + index).toString(16)}:00.0`,
    serial: null,
    memoryTotalBytes: 81_559 * 2 ** 20,
    driverVersion: '565.57.01',
    runtimeVersion: '12.7',
    vbiosVersion: null,
    powerLimitW: 700,
    migMode: 'disabled',
    migDevices: [],
    eccMode: 'enabled',
  };
}

/**
 * A valid GPU reading for tests that speak the protocol by hand: a busy, healthy H100 (41 °C,
 * 87 % busy, 512 W) for `gpu` (a testGpu index or a GpuInfo), with `over` replacing any field.
 */
export function testGpuSample(gpu: number | GpuInfo, over: Partial<GpuSample> = {}): GpuSample {
  const g = typeof gpu === 'number' ? testGpu(gpu) : gpu;
  return {
    uuid: g.uuid,
    pciBusId: g.pciBusId,
    index: g.index,
    temperatureC: 41,
    memoryTemperatureC: null,
    utilizationPct: 87,
    memoryUtilizationPct: 30,
    memoryUsedBytes: 2 ** 33,
    memoryTotalBytes: 2 ** 36,
    powerDrawW: 512,
    powerLimitW: 700,
    smClockMhz: 1980,
    memClockMhz: 2619,
    fanPct: null,
    eccCorrectedVolatile: 0,
    eccUncorrectedVolatile: 0,
    eccCorrectedAggregate: 0,
    eccUncorrectedAggregate: 0,
    retiredPagesPending: null,
    remappedRowsPending: false,
    remappedRowsFailure: false,
    throttleReasons: [],
    ...over,
  };
}

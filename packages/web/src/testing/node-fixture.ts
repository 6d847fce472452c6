import type { GpuView, NodeView } from '@gpufleet/protocol';

/**
 * A NodeView as GET /api/v1/nodes writes it, for a READY host without GPUs (tests that need the
 * whole shape check it with the protocol's NodeView schema).
 */
export function nodeViewFixture(id: string, hostname: string, over: Partial<NodeView> = {}): NodeView {
  return {
    id,
    hostname,
    status: 'READY',
    connected: true,
    labels: { hostname },
    userLabels: {},
    enrolledAt: '2025-05-01T10:00:00.000Z',
    lastSeenAt: '2025-05-01T12:00:00.000Z',
    agentVersion: '0.1.0',
    simulated: true,
    facts: {
      hostname,
      os: { id: 'debian', name: 'Debian GNU/Linux', version: '12' },
      kernel: '6.1.0-18-amd64',
      arch: 'x86_64',
      cpu: { model: 'AMD EPYC 9454', cores: 48, threads: 96 },
      memoryTotalBytes: 1024 ** 4,
      disks: [],
      network: [],
      containerRuntime: null,
      agentVersion: '0.1.0',
      bootTime: null,
    },
    gpus: [],
    host: null,
    toolFailures: [],
    statusChange: null,
    health: { verdict: 'healthy', rule: null, cause: null, since: null, findings: [] },
    ...over,
  };
}

/** A GpuView as the server writes it: an H100, READY and healthy, with a sample unless `sample: null`. */
export function gpuViewFixture(index: number, over: Partial<GpuView> = {}, reading: Partial<NonNullable<GpuView['sample']>> = {}): GpuView {
  const uuid = `GPU-00000000-0000-0000-0000-0000000000${String(index).padStart(2, '0')}`;
  const pciBusId = `00000000:${(0x17 + index).toString(16).padStart(2, '0')}:00.0`;
  return {
    vendor: 'nvidia',
    index,
    uuid,
    name: 'NVIDIA H100 80GB HBM3',
    pciBusId,
    serial: null,
    memoryTotalBytes: 80 * 1024 ** 3,
    driverVersion: '565.57.01',
    runtimeVersion: '12.7',
    vbiosVersion: null,
    powerLimitW: 700,
    eccMode: null,
    migMode: null,
    migDevices: [],
    sample: {
      uuid,
      pciBusId,
      index,
      temperatureC: 55,
      memoryTemperatureC: null,
      utilizationPct: 40,
      memoryUtilizationPct: null,
      memoryUsedBytes: 20 * 1024 ** 3,
      memoryTotalBytes: 80 * 1024 ** 3,
      powerDrawW: 300,
      powerLimitW: 700,
      smClockMhz: null,
      memClockMhz: null,
      fanPct: null,
      eccCorrectedVolatile: null,
      eccUncorrectedVolatile: null,
      eccCorrectedAggregate: null,
      eccUncorrectedAggregate: null,
      retiredPagesPending: null,
      remappedRowsPending: null,
      remappedRowsFailure: null,
      throttleReasons: [],
      ...reading,
    },
    state: 'READY',
    stateChange: null,
    health: { verdict: 'healthy', rule: null, cause: null, since: null },
    ...over,
  } as GpuView;
}

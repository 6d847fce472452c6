import { describe, expect, it } from 'vitest';
import { FleetError, GpuSnapshot } from '@gpufleet/protocol';
import { readFixture } from '../../testing/fixtures.js';
import { parseXpuSmiDiscoveryJson } from './xpu-smi-discovery.js';
import { parseXpuSmiDump } from './xpu-smi-dump.js';
import { mergeXpuSmi } from './xpu-smi-merge.js';

const DUMP = 'xpu-smi_dump_-m0,1,2_csv__xpumanager-doc.csv';

function expectInvalid(text: string, mention = 'xpu-smi dump'): void {
  let caught: unknown;
  try {
    parseXpuSmiDump(text);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(FleetError);
  expect((caught as FleetError).code).toBe('invalid_argument');
  expect((caught as FleetError).message).toContain(mention);
}

describe('parseXpuSmiDump', () => {
  it("keeps the latest of the doc dump's five rows for device 0", () => {
    const dump = parseXpuSmiDump(readFixture('intel', DUMP));
    expect([...dump.keys()]).toEqual([0]);
    // Last row: "06:14:50.000,    0, 0.00, 14.61,    0"
    expect(dump.get(0)).toEqual({ utilizationPct: 0, powerDrawW: 14.61, smClockMhz: 0 });
  });

  it('reads every column the agent asks for, by header name, with N/A as null', () => {
    const csv = [
      'Timestamp, DeviceId, GPU Utilization (%), GPU Power (W), GPU Frequency (MHz), GPU Core Temperature (Celsius Degree), ' +
        'GPU Memory Temperature (Celsius Degree), GPU Memory Utilization (%), GPU Memory Bandwidth Utilization (%), ' +
        'GPU Memory Used (MiB), GPU Memory Errors Correctable, GPU Memory Errors Uncorrectable, GPU Energy Consumed (J)',
      '06:14:46.000,    0, 12.50, 150.20, 1600, 41.00, N/A, 3.10, 7.00, 24.00, 0, 0, 1234',
      '06:14:46.000,    1, 99.00, 300.00, 1550, 62.00, 58.00, 80.00, 45.00, 98304.00, 2, N/A, 5678',
    ].join('\n');
    const dump = parseXpuSmiDump(csv);
    expect(dump.get(0)).toEqual({
      utilizationPct: 12.5,
      powerDrawW: 150.2,
      smClockMhz: 1600,
      temperatureC: 41,
      memoryTemperatureC: null,
      memoryUtilizationPct: 7, // bandwidth, not the allocation percent
      memoryUsedBytes: 24 * 2 ** 20,
      eccCorrectedVolatile: 0,
      eccUncorrectedVolatile: 0,
    });
    expect(dump.get(1)!.memoryUsedBytes).toBe(98304 * 2 ** 20);
    expect(dump.get(1)!.eccCorrectedVolatile).toBe(2);
    expect(dump.get(1)!.eccUncorrectedVolatile).toBeNull();
  });

  it('skips notices before the header, blank lines and a row cut off mid-write', () => {
    const full = readFixture('intel', DUMP);
    const cut = `Warning: some metrics are not supported\n\n${full.trimEnd()}\n06:14:51.000,    0, 9`;
    expect(parseXpuSmiDump(cut).get(0)!.powerDrawW).toBe(14.61);
  });

  it('returns no devices for a header with no rows yet', () => {
    expect(parseXpuSmiDump(readFixture('intel', DUMP).split('\n')[0]!).size).toBe(0);
  });

  it('refuses per-tile dumps, naming the fix', () => {
    expectInvalid('Timestamp, DeviceId, TileId, GPU Power (W)\n06:14:46.000, 0, 0, 10.0', 'without -t');
  });

  it('refuses empty output, binary junk and other formats', () => {
    expectInvalid('');
    expectInvalid('\u0000\u0001\u00ff\ufffd');
    expectInvalid(readFixture('intel', 'xpu-smi_stats_-d0__xpumanager-doc.txt'));
    expectInvalid(readFixture('intel', 'xpu-smi_discovery_-j__xpumanager-doc.json'));
  });
});

describe('mergeXpuSmi', () => {
  it("puts the doc dump's readings onto the doc discovery device", () => {
    const discovery = parseXpuSmiDiscoveryJson(readFixture('intel', 'xpu-smi_discovery_-j__xpumanager-doc.json'));
    const merged = mergeXpuSmi(discovery, parseXpuSmiDump(readFixture('intel', DUMP)));
    expect(merged).toHaveLength(1);
    const g = merged[0]!;
    expect(g.uuid).toBe('00000000-0000-0000-0000-020a00008086');
    expect(g.pciBusId).toBe('0000:4d:00.0');
    expect(g.powerDrawW).toBe(14.61);
    expect(g.utilizationPct).toBe(0);
    expect(g.temperatureC).toBeNull(); // not in -m 0,1,2
    expect(GpuSnapshot.safeParse(g).success).toBe(true);
    expect(discovery[0]!.powerDrawW).toBeNull(); // input untouched
  });

  it('keeps identity from discovery and drops dump rows of unknown devices', () => {
    const discovery = parseXpuSmiDiscoveryJson(readFixture('intel', 'xpu-smi_discovery_-j__xpumanager-doc.json'));
    const dump = new Map<number, Partial<GpuSnapshot>>([
      [0, { uuid: 'forged', powerDrawW: 20 }],
      [7, { powerDrawW: 99 }],
    ]);
    const merged = mergeXpuSmi(discovery, dump);
    expect(merged.map((g) => g.index)).toEqual([0]);
    expect(merged[0]!.uuid).toBe('00000000-0000-0000-0000-020a00008086');
    expect(merged[0]!.powerDrawW).toBe(20);
  });
});

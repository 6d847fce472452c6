import { describe, expect, it } from 'vitest';
import { FleetError, GpuSnapshot } from '@gpufleet/protocol';
import { listFixtures, readFixture } from '../../testing/fixtures.js';
import { parseRocmSmiJson } from './rocm-smi-json.js';

const RX6700XT = 'rocm-smi_json__RX6700XT_rocm6.1.2_telegraf.json';

function expectInvalid(text: string): void {
  let caught: unknown;
  try {
    parseRocmSmiJson(text);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(FleetError);
  expect((caught as FleetError).code).toBe('invalid_argument');
  expect((caught as FleetError).message).toContain('rocm-smi');
}

describe('parseRocmSmiJson', () => {
  it('reads the RX 6700 XT record (ROCm 6.1.2, telegraf testdata)', () => {
    const gpus = parseRocmSmiJson(readFixture('amd', RX6700XT));
    expect(gpus).toHaveLength(1);
    const g = gpus[0]!;
    expect(g.vendor).toBe('amd');
    expect(g.index).toBe(0);
    expect(g.name).toBe('Navi 22 [Radeon RX 6700/6700 XT / 6800M]');
    expect(g.pciBusId).toBe('0000:07:00.0');
    expect(g.uuid).toBeNull(); // "Unique ID": "N/A"
    expect(g.serial).toBeNull(); // "Serial Number": "N/A"
    expect(g.driverVersion).toBe('6.3.6');
    expect(g.vbiosVersion).toBe('113-67XA6SSB1-D01');
    expect(g.memoryTotalBytes).toBe(12868124672);
    expect(g.memoryUsedBytes).toBe(1572745216);
    expect(g.temperatureC).toBe(47); // junction preferred over edge (45.0)
    expect(g.memoryTemperatureC).toBe(46);
    expect(g.utilizationPct).toBe(0);
    expect(g.memoryUtilizationPct).toBe(0);
    expect(g.powerDrawW).toBe(6);
    expect(g.powerLimitW).toBe(211);
    expect(g.smClockMhz).toBe(0); // "(0Mhz)": idle
    expect(g.memClockMhz).toBe(96);
    expect(g.fanPct).toBeNull();
    expect(GpuSnapshot.safeParse(g).success).toBe(true);
  });

  it('reads every rocm-smi JSON fixture without error', () => {
    const files = listFixtures('amd', /^rocm-smi_json.*\.json$/);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(parseRocmSmiJson(readFixture('amd', f)).length).toBeGreaterThan(0);
  });

  it('orders cards by index and reads older key spellings', () => {
    const text = JSON.stringify({
      card1: { 'Card series': 'Instinct MI210', 'GPU use (%)': '87', 'PCI Bus': '0000:C3:00.0' },
      card0: { 'Card series': 'Instinct MI210', 'GPU memory use (%)': '12', 'Fan speed (%)': '30' },
    });
    const gpus = parseRocmSmiJson(text);
    expect(gpus.map((g) => g.index)).toEqual([0, 1]);
    expect(gpus[0]!.name).toBe('Instinct MI210');
    expect(gpus[0]!.memoryUtilizationPct).toBe(12);
    expect(gpus[0]!.fanPct).toBe(30);
    expect(gpus[0]!.driverVersion).toBeNull(); // no "system" section
    expect(gpus[1]!.utilizationPct).toBe(87);
    expect(gpus[1]!.pciBusId).toBe('0000:c3:00.0');
  });

  it('returns no GPUs when rocm-smi lists only the system section', () => {
    expect(parseRocmSmiJson('{"system": {"Driver version": "6.3.6"}}')).toEqual([]);
  });

  it('refuses empty output, binary junk and truncated JSON', () => {
    expectInvalid('');
    expectInvalid('\u0000\u0007\u00ff\ufffd\u0001');
    const full = readFixture('amd', RX6700XT);
    expectInvalid(full.slice(0, 700));
  });

  it('refuses amd-smi JSON and other shapes', () => {
    expectInvalid(readFixture('amd', 'amd-smi_metric_-p_json__pre-v26-list-format_amdsmi-CHANGELOG.json'));
    expectInvalid('{"gpu_data": []}');
    expectInvalid('"card0"');
    expectInvalid('{"card0": "N/A"}');
  });
});

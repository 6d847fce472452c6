import { describe, expect, it } from 'vitest';
import { FleetError, GpuSnapshot } from '@gpufleet/protocol';
import { readFixture } from '../../testing/fixtures.js';
import { parseXpuSmiDiscoveryJson } from './xpu-smi-discovery.js';

const LIST = 'xpu-smi_discovery_-j__xpumanager-doc.json';

function expectInvalid(text: string): void {
  let caught: unknown;
  try {
    parseXpuSmiDiscoveryJson(text);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(FleetError);
  expect((caught as FleetError).code).toBe('invalid_argument');
  expect((caught as FleetError).message).toContain('xpu-smi discovery');
}

/** Reads "Label: value" lines out of the `xpu-smi discovery -d` table fixture. */
function detailValues(): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of readFixture('intel', 'xpu-smi_discovery_-d_detail__xpumanager-doc.txt').split('\n')) {
    const m = /^\|[^|]*\|\s*([^:|]+):\s*(.*?)\s*\|$/.exec(line);
    if (m) values.set(m[1]!.trim(), m[2]!);
  }
  return values;
}

describe('parseXpuSmiDiscoveryJson', () => {
  it('reads the xpumanager doc device list', () => {
    const gpus = parseXpuSmiDiscoveryJson(readFixture('intel', LIST));
    expect(gpus).toHaveLength(1);
    const g = gpus[0]!;
    expect(g.vendor).toBe('intel');
    expect(g.index).toBe(0);
    expect(g.name).toBe('Intel(R) Graphics [0x020a]');
    expect(g.uuid).toBe('00000000-0000-0000-0000-020a00008086');
    expect(g.pciBusId).toBe('0000:4d:00.0');
    // The list form carries no memory size or driver.
    expect(g.memoryTotalBytes).toBeNull();
    expect(g.driverVersion).toBeNull();
    expect(GpuSnapshot.safeParse(g).success).toBe(true);
  });

  it('reads one device from `discovery -d 0 -j`, with the values of the -d table fixture', () => {
    // The doc shows `-d` only as a table; these are its values under the JSON keys
    // xpu-smi prints for them (memory_physical_size_byte is the table's MiB times 2^20).
    const d = detailValues();
    expect(d.get('Memory Physical Size')).toBe('32768.00 MiB');
    const device = {
      device_id: 0,
      device_type: d.get('Device Type'),
      device_name: d.get('Device Name'),
      vendor_name: d.get('Vendor Name'),
      uuid: d.get('UUID'),
      serial_number: d.get('Serial Number'),
      driver_version: d.get('Driver Version'),
      gfx_firmware_version: d.get('Firmware Version'),
      pci_bdf_address: d.get('PCI BDF Address'),
      memory_physical_size_byte: String(parseFloat(d.get('Memory Physical Size')!) * 2 ** 20),
      memory_ecc_state: d.get('ECC State'),
    };
    const [g] = parseXpuSmiDiscoveryJson(JSON.stringify(device));
    expect(g!.index).toBe(0);
    expect(g!.name).toBe('Intel(R) Graphics [0x020a]');
    expect(g!.uuid).toBe('00000000-0000-0000-0000-020a00008086');
    expect(g!.pciBusId).toBe('0000:4d:00.0');
    expect(g!.serial).toBeNull(); // "unknown"
    expect(g!.driverVersion).toBe('16929133');
    expect(g!.vbiosVersion).toBe('ATS0_1.1');
    expect(g!.memoryTotalBytes).toBe(34359738368);
    expect(g!.eccMode).toBe('enabled');
  });

  it('skips devices xpu-smi could not open and non-GPU devices', () => {
    const text = JSON.stringify({
      device_list: [
        { device_id: 1, device_type: 'GPU', device_name: 'Intel(R) Data Center GPU Max 1550', pci_bdf_address: '0000:3a:00.0' },
        { pci_bdf_address: '0000:9a:00.0', gfx_firmware_status: 'GPU in bad state' },
        { device_id: 2, device_type: 'NPU' },
        { device_id: '0', device_name: 'Intel(R) Data Center GPU Max 1550', memory_physical_size_byte: 137438953472 },
      ],
    });
    const gpus = parseXpuSmiDiscoveryJson(text);
    expect(gpus.map((g) => g.index)).toEqual([0, 1]);
    expect(gpus[0]!.memoryTotalBytes).toBe(137438953472);
    expect(gpus[1]!.pciBusId).toBe('0000:3a:00.0');
  });

  it('returns no GPUs for an empty device list', () => {
    expect(parseXpuSmiDiscoveryJson('{"device_list": []}')).toEqual([]);
  });

  it('refuses empty output, binary junk, truncated JSON and the table form', () => {
    expectInvalid('');
    expectInvalid('\u0000\u00ff\ufffd\u0002\u0003');
    expectInvalid(readFixture('intel', LIST).slice(0, 120));
    expectInvalid(readFixture('intel', 'xpu-smi_discovery_table__xpumanager-doc.txt'));
  });

  it("refuses other tools' JSON", () => {
    expectInvalid(readFixture('amd', 'rocm-smi_json__RX6700XT_rocm6.1.2_telegraf.json'));
    expectInvalid(readFixture('amd', 'amd-smi_metric_-p_json__pre-v26-list-format_amdsmi-CHANGELOG.json'));
    expectInvalid('{"device_list": [42]}');
  });
});

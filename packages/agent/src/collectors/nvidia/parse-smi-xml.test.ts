import { describe, expect, it } from 'vitest';
import { FleetError, GpuSnapshot } from '@gpufleet/protocol';
import { readFixture } from '../../testing/fixtures.js';
import { parseNvidiaSmiXml } from './parse-smi-xml.js';

const MIB = 1048576;
const RTX_XML = readFixture('nvidia', 'nvidia-smi_-q_-x__RTX4000-SFF-Ada_v13_telegraf.xml');

function log(gpuBody: string, id = '00000000:18:00.0'): string {
  return `<?xml version="1.0" ?>
<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">
<nvidia_smi_log>
  <driver_version>565.57.01</driver_version>
  <cuda_version>12.7</cuda_version>
  <attached_gpus>1</attached_gpus>
  <gpu id="${id}">${gpuBody}</gpu>
</nvidia_smi_log>`;
}

function expectInvalid(input: string, message: RegExp): void {
  let caught: unknown;
  try {
    parseNvidiaSmiXml(input);
  } catch (err) {
    caught = err;
  }
  expect(FleetError.is(caught, 'invalid_argument'), `input ${JSON.stringify(input.slice(0, 40))}`).toBe(true);
  expect((caught as Error).message).toMatch(message);
}

describe('parseNvidiaSmiXml on the recorded RTX 4000 SFF Ada (DTD v13) document', () => {
  const [gpu, ...rest] = parseNvidiaSmiXml(RTX_XML);

  it('finds the one GPU and the schema accepts it', () => {
    expect(rest).toEqual([]);
    expect(GpuSnapshot.parse(gpu)).toEqual(gpu);
  });

  it('reads inventory fields', () => {
    expect(gpu!.vendor).toBe('nvidia');
    expect(gpu!.index).toBe(0);
    expect(gpu!.name).toBe('NVIDIA RTX 4000 SFF Ada Generation');
    expect(gpu!.uuid).toBe('GPU-37037c3f-65c8-ec4d-24a9-420204ad8026');
    expect(gpu!.serial).toBe('REDACTED');
    expect(gpu!.pciBusId).toBe('0000:06:00.0');
    expect(gpu!.driverVersion).toBe('595.84');
    expect(gpu!.runtimeVersion).toBe('13.2');
    expect(gpu!.vbiosVersion).toBe('95.04.53.00.01');
    expect(gpu!.memoryTotalBytes).toBe(20475 * MIB);
    expect(gpu!.powerLimitW).toBe(70);
    expect(gpu!.migMode).toBeNull(); // current_mig N/A
    expect(gpu!.migDevices).toEqual([]); // <mig_devices>None</mig_devices>
    expect(gpu!.eccMode).toBe('disabled');
  });

  it('reads current readings', () => {
    expect(gpu!.memoryUsedBytes).toBe(3534 * MIB);
    expect(gpu!.temperatureC).toBe(38);
    expect(gpu!.memoryTemperatureC).toBeNull(); // memory_temp N/A
    expect(gpu!.utilizationPct).toBe(0);
    expect(gpu!.memoryUtilizationPct).toBe(37);
    expect(gpu!.powerDrawW).toBe(8.81); // average_power_draw (instant is 8.44 W)
    expect(gpu!.smClockMhz).toBe(210);
    expect(gpu!.memClockMhz).toBe(405);
    expect(gpu!.fanPct).toBe(30);
  });

  it('reads health counters: N/A ECC and retired pages are null, remapped rows are zero', () => {
    expect(gpu!.eccCorrectedVolatile).toBeNull();
    expect(gpu!.eccUncorrectedVolatile).toBeNull();
    expect(gpu!.eccCorrectedAggregate).toBeNull();
    expect(gpu!.eccUncorrectedAggregate).toBeNull();
    expect(gpu!.retiredPagesSbe).toBeNull();
    expect(gpu!.retiredPagesDbe).toBeNull();
    expect(gpu!.retiredPagesPending).toBeNull();
    expect(gpu!.remappedRowsCorrectable).toBe(0);
    expect(gpu!.remappedRowsUncorrectable).toBe(0);
    expect(gpu!.remappedRowsPending).toBe(false);
    expect(gpu!.remappedRowsFailure).toBe(false);
    expect(gpu!.pcieReplayCount).toBe(0); // <pci><replay_counter>0</replay_counter>
    expect(gpu!.throttleReasons).toEqual(['gpu_idle']);
  });
});

describe('parseNvidiaSmiXml on other shapes', () => {
  it('reads the older DTD spellings: power_readings, clocks_throttle_reasons, single_bit/double_bit ECC totals', () => {
    // Element names of older nvidia-smi DTDs (before r535), which our captures do not include;
    // values follow GPU 0 of the recorded 8x H100 `-q` text (30 C, 100.89 W, 700 W, 81559 MiB).
    // The ECC and retired-page counts are illustrative: the captures only show 0 or N/A there.
    const [gpu] = parseNvidiaSmiXml(
      log(`
      <product_name>NVIDIA H100 80GB HBM3</product_name>
      <uuid>GPU-b42dd28e-ffdd-8720-1df0-98bd8cdc05b1</uuid>
      <fb_memory_usage><total>81559 MiB</total><used>1 MiB</used></fb_memory_usage>
      <clocks_throttle_reasons>
        <clocks_throttle_reason_gpu_idle>Not Active</clocks_throttle_reason_gpu_idle>
        <clocks_throttle_reason_sw_power_cap>Active</clocks_throttle_reason_sw_power_cap>
        <clocks_throttle_reason_hw_slowdown>Active</clocks_throttle_reason_hw_slowdown>
        <clocks_throttle_reason_hw_thermal_slowdown>Active</clocks_throttle_reason_hw_thermal_slowdown>
        <clocks_throttle_reason_display_clocks_setting>Not Active</clocks_throttle_reason_display_clocks_setting>
      </clocks_throttle_reasons>
      <ecc_mode><current_ecc>Enabled</current_ecc><pending_ecc>Enabled</pending_ecc></ecc_mode>
      <ecc_errors>
        <volatile>
          <single_bit><device_memory>3</device_memory><register_file>1</register_file><total>4</total></single_bit>
          <double_bit><device_memory>0</device_memory><total>1</total></double_bit>
        </volatile>
        <aggregate>
          <single_bit><device_memory>10</device_memory><total>12</total></single_bit>
          <double_bit><device_memory>2</device_memory><total>2</total></double_bit>
        </aggregate>
      </ecc_errors>
      <retired_pages>
        <multiple_single_bit_retirement><retired_count>2</retired_count><retired_pagelist></retired_pagelist></multiple_single_bit_retirement>
        <double_bit_retirement><retired_count>1</retired_count><retired_pagelist></retired_pagelist></double_bit_retirement>
        <pending_retirement>Yes</pending_retirement>
      </retired_pages>
      <temperature><gpu_temp>30 C</gpu_temp><memory_temp>36 C</memory_temp></temperature>
      <power_readings>
        <power_state>P0</power_state>
        <power_draw>100.89 W</power_draw>
        <power_limit>650.00 W</power_limit>
        <enforced_power_limit>700.00 W</enforced_power_limit>
      </power_readings>`),
    );
    expect(gpu!.uuid).toBe('GPU-b42dd28e-ffdd-8720-1df0-98bd8cdc05b1');
    expect(gpu!.pciBusId).toBe('0000:18:00.0'); // from <gpu id>, there is no <pci> here
    expect(gpu!.driverVersion).toBe('565.57.01');
    expect(gpu!.runtimeVersion).toBe('12.7');
    expect(gpu!.memoryTotalBytes).toBe(81559 * MIB);
    expect(gpu!.temperatureC).toBe(30);
    expect(gpu!.memoryTemperatureC).toBe(36);
    expect(gpu!.powerDrawW).toBe(100.89);
    expect(gpu!.powerLimitW).toBe(700); // the enforced limit, not the requested 650
    expect(gpu!.eccMode).toBe('enabled');
    expect(gpu!.eccCorrectedVolatile).toBe(4);
    expect(gpu!.eccUncorrectedVolatile).toBe(1);
    expect(gpu!.eccCorrectedAggregate).toBe(12);
    expect(gpu!.eccUncorrectedAggregate).toBe(2);
    expect(gpu!.retiredPagesSbe).toBe(2);
    expect(gpu!.retiredPagesDbe).toBe(1);
    expect(gpu!.retiredPagesPending).toBe(true);
    expect(gpu!.throttleReasons).toEqual(['sw_power_cap', 'hw_slowdown', 'hw_thermal_slowdown']);
  });

  it('sums the newer SRAM/DRAM ECC counters (split and unsplit SRAM uncorrectable)', () => {
    // Counter names as in the v13 fixture and the H100 `-q` text (SRAM Uncorrectable Parity /
    // SEC-DED); the MIG capture prints a plain `SRAM Uncorrectable`. Counts are illustrative.
    const [split] = parseNvidiaSmiXml(
      log(`<ecc_errors>
        <volatile>
          <sram_correctable>5</sram_correctable><sram_uncorrectable_parity>1</sram_uncorrectable_parity>
          <sram_uncorrectable_secded>2</sram_uncorrectable_secded><dram_correctable>2</dram_correctable>
          <dram_uncorrectable>3</dram_uncorrectable>
        </volatile>
        <aggregate>
          <sram_correctable>N/A</sram_correctable><sram_uncorrectable_parity>0</sram_uncorrectable_parity>
          <sram_uncorrectable_secded>0</sram_uncorrectable_secded><dram_correctable>9</dram_correctable>
          <dram_uncorrectable>0</dram_uncorrectable><sram_threshold_exceeded>No</sram_threshold_exceeded>
        </aggregate>
      </ecc_errors>`),
    );
    expect(split!.eccCorrectedVolatile).toBe(7);
    expect(split!.eccUncorrectedVolatile).toBe(6);
    expect(split!.eccCorrectedAggregate).toBe(9);
    expect(split!.eccUncorrectedAggregate).toBe(0);

    const [plain] = parseNvidiaSmiXml(
      log(`<ecc_errors><volatile>
        <sram_correctable>0</sram_correctable><sram_uncorrectable>4</sram_uncorrectable>
        <dram_correctable>0</dram_correctable><dram_uncorrectable>1</dram_uncorrectable>
      </volatile></ecc_errors>`),
    );
    expect(plain!.eccUncorrectedVolatile).toBe(5);
    expect(plain!.eccCorrectedAggregate).toBeNull();
  });

  it('reads remapped rows with a remapping failure', () => {
    // Element names from the v13 fixture's <remapped_rows>; the failing values are illustrative.
    const [gpu] = parseNvidiaSmiXml(
      log(`<remapped_rows>
        <remapped_row_corr>3</remapped_row_corr><remapped_row_unc>1</remapped_row_unc>
        <remapped_row_pending>Yes</remapped_row_pending><remapped_row_failure>Yes</remapped_row_failure>
      </remapped_rows>`),
    );
    expect(gpu!.remappedRowsCorrectable).toBe(3);
    expect(gpu!.remappedRowsUncorrectable).toBe(1);
    expect(gpu!.remappedRowsPending).toBe(true);
    expect(gpu!.remappedRowsFailure).toBe(true);
  });

  it('reads MIG mode and devices', () => {
    // Shaped after the `-q` text of the MIG capture bundle (idle): four MIG devices, GPU
    // instances 2, 3, 9 and 10, compute instance 0, shared FB 40448/20096/9984/9984 MiB.
    const device = (gi: number, total: number, used: number): string => `
      <mig_device>
        <index>0</index><gpu_instance_id>${gi}</gpu_instance_id><compute_instance_id>0</compute_instance_id>
        <ecc_error_count><volatile_count><sram_uncorrectable>0</sram_uncorrectable></volatile_count></ecc_error_count>
        <fb_memory_usage><total>${total} MiB</total><reserved>0 MiB</reserved><used>${used} MiB</used></fb_memory_usage>
        <bar1_memory_usage><total>6184 MiB</total><used>0 MiB</used></bar1_memory_usage>
      </mig_device>`;
    const [gpu] = parseNvidiaSmiXml(
      log(`<mig_mode><current_mig>Enabled</current_mig><pending_mig>Enabled</pending_mig></mig_mode>
      <mig_devices>${device(2, 40448, 26)}${device(3, 20096, 17)}${device(9, 9984, 9)}${device(10, 9984, 9)}</mig_devices>
      <fb_memory_usage><total>81559 MiB</total><used>59 MiB</used></fb_memory_usage>
      <utilization><gpu_util>N/A</gpu_util><memory_util>N/A</memory_util></utilization>`),
    );
    expect(gpu!.migMode).toBe('enabled');
    expect(gpu!.utilizationPct).toBeNull();
    expect(gpu!.migDevices).toEqual([
      { gpuInstanceId: 2, computeInstanceId: 0, uuid: null, profile: null, memoryTotalBytes: 40448 * MIB, memoryUsedBytes: 26 * MIB },
      { gpuInstanceId: 3, computeInstanceId: 0, uuid: null, profile: null, memoryTotalBytes: 20096 * MIB, memoryUsedBytes: 17 * MIB },
      { gpuInstanceId: 9, computeInstanceId: 0, uuid: null, profile: null, memoryTotalBytes: 9984 * MIB, memoryUsedBytes: 9 * MIB },
      { gpuInstanceId: 10, computeInstanceId: 0, uuid: null, profile: null, memoryTotalBytes: 9984 * MIB, memoryUsedBytes: 9 * MIB },
    ]);
    expect(GpuSnapshot.parse(gpu)).toEqual(gpu);
  });

  it('numbers several GPUs in document order and keeps each one its own values', () => {
    const twoGpus = RTX_XML.replace('<attached_gpus>1</attached_gpus>', '<attached_gpus>2</attached_gpus>').replace(
      '</nvidia_smi_log>',
      '<gpu id="00000000:07:00.0"><uuid>GPU-second</uuid><temperature><gpu_temp>51 C</gpu_temp></temperature></gpu></nvidia_smi_log>',
    );
    const gpus = parseNvidiaSmiXml(twoGpus);
    expect(gpus.map((g) => [g.index, g.uuid, g.pciBusId, g.temperatureC])).toEqual([
      [0, 'GPU-37037c3f-65c8-ec4d-24a9-420204ad8026', '0000:06:00.0', 38],
      [1, 'GPU-second', '0000:07:00.0', 51],
    ]);
    expect(gpus[1]!.driverVersion).toBe('595.84');
  });

  it('gives [] for a well-formed log with no GPUs', () => {
    expect(parseNvidiaSmiXml('<nvidia_smi_log><driver_version>595.84</driver_version><attached_gpus>0</attached_gpus></nvidia_smi_log>')).toEqual([]);
  });
});

describe('parseNvidiaSmiXml on wrong input', () => {
  it('refuses empty input', () => {
    expectInvalid('', /expected nvidia-smi -q -x XML output, got empty input/);
    expectInvalid(' \n\t', /got empty input/);
  });

  it('refuses binary junk', () => {
    const junk = String.fromCharCode(...Array.from({ length: 512 }, (_, i) => (i * 131 + 7) % 256));
    expectInvalid(junk, /expected nvidia-smi -q -x XML output: malformed XML/);
  });

  it('refuses truncated XML', () => {
    expectInvalid(RTX_XML.slice(0, Math.floor(RTX_XML.length / 2)), /expected nvidia-smi -q -x XML output: .*truncated/);
    expectInvalid(RTX_XML.slice(0, RTX_XML.indexOf('</nvidia_smi_log>')), /input ended inside <nvidia_smi_log>/);
  });

  it('refuses CSV and -q text', () => {
    expectInvalid(
      readFixture('nvidia', 'nvidia-smi_query-gpu_csv_allfields__nvidia-l40s__595.80__load.csv'),
      /expected nvidia-smi -q -x XML output: malformed XML at line 1/,
    );
    expectInvalid(readFixture('nvidia', 'nvidia-smi_-q__nvidia-l40s__595.80__load.txt'), /expected nvidia-smi -q -x XML output/);
  });

  it('refuses another XML document', () => {
    expectInvalid('<html><body>502 Bad Gateway</body></html>', /root element <nvidia_smi_log>\), got <html>/);
  });

  it('refuses a log that claims GPUs but lists none', () => {
    expectInvalid('<nvidia_smi_log><attached_gpus>2</attached_gpus></nvidia_smi_log>', /says 2 GPUs are attached but has no <gpu> element/);
  });
});

import { describe, expect, it } from 'vitest';
import { FleetError, GpuSnapshot } from '@gpufleet/protocol';
import { listFixtures, readFixture } from '../../testing/fixtures.js';
import { parseNpuSmiInfo } from './npu-smi-info.js';

const TWO_910B4 = 'npu-smi_info__2x_910B4_with_process_section_npu-smi-25.5.2.txt';
const DUAL_DIE = 'npu-smi_info__Ascend910_dual-chip_Phy-ID_partial_npu-smi-26.0.rc2.txt';

function expectInvalid(text: string): void {
  let caught: unknown;
  try {
    parseNpuSmiInfo(text);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(FleetError);
  expect((caught as FleetError).code).toBe('invalid_argument');
  expect((caught as FleetError).message).toContain('npu-smi info');
}

describe('parseNpuSmiInfo: 2x 910B4, npu-smi 25.5.2', () => {
  const npus = () => parseNpuSmiInfo(readFixture('huawei', TWO_910B4));

  it('finds both NPUs and ignores the process section', () => {
    const list = npus();
    expect(list).toHaveLength(2);
    expect(list.map((n) => n.index)).toEqual([0, 1]);
    expect(list.map((n) => n.pciBusId)).toEqual(['0000:41:00.0', '0000:42:00.0']);
  });

  it('reads name, driver version, power, temperature, AICore and HBM usage', () => {
    const n = npus()[0]!;
    expect(n.vendor).toBe('huawei');
    expect(n.name).toBe('Ascend 910B4');
    expect(n.driverVersion).toBe('25.5.2');
    expect(n.powerDrawW).toBe(89.9);
    expect(n.temperatureC).toBe(39);
    expect(n.utilizationPct).toBe(0);
    // HBM 2922 / 32768 MB; the DDR column reads 0 / 0.
    expect(n.memoryUsedBytes).toBe(2922 * 2 ** 20);
    expect(n.memoryTotalBytes).toBe(32768 * 2 ** 20);
    expect(n.uuid).toBeNull(); // npu-smi info prints none: keyed by PCI bus id
    expect(GpuSnapshot.safeParse(n).success).toBe(true);
  });
});

describe('parseNpuSmiInfo: Ascend910 dual-die with Phy-ID, npu-smi 26.0.rc2', () => {
  it('reads both dies of NPU 0 as chips keyed by Phy-ID (the source cut the table after them)', () => {
    const chips = parseNpuSmiInfo(readFixture('huawei', DUAL_DIE));
    expect(chips).toHaveLength(2);
    const [a, b] = chips;
    expect(a!.index).toBe(0);
    expect(b!.index).toBe(1);
    expect(a!.name).toBe('Ascend 910');
    expect(a!.driverVersion).toBe('26.0.rc2');
    expect(a!.pciBusId).toBe('0000:9d:00.0');
    expect(b!.pciBusId).toBe('0000:9f:00.0');
    expect(a!.powerDrawW).toBe(162.6);
    expect(b!.powerDrawW).toBeNull(); // "-": the NPU's power is on its first die
    expect(a!.temperatureC).toBe(34);
    expect(b!.temperatureC).toBe(34);
    expect(a!.memoryUsedBytes).toBe(3419 * 2 ** 20);
    expect(b!.memoryUsedBytes).toBe(2874 * 2 ** 20);
    expect(a!.memoryTotalBytes).toBe(65536 * 2 ** 20);
  });

  it('ignores a trailing chip whose second row was cut off', () => {
    const lines = readFixture('huawei', DUAL_DIE).trimEnd().split('\n');
    // Drop the last chip's second row entirely...
    expect(parseNpuSmiInfo(lines.slice(0, -1).join('\n')).map((c) => c.index)).toEqual([0]);
    // ...or cut it mid-row, as a truncated capture would.
    const midRow = [...lines.slice(0, -1), lines[lines.length - 1]!.slice(0, 40)].join('\n');
    expect(parseNpuSmiInfo(midRow).map((c) => c.pciBusId)).toEqual(['0000:9d:00.0']);
  });
});

describe('parseNpuSmiInfo: other layouts and bad input', () => {
  it('reads every npu-smi info fixture without error', () => {
    const files = listFixtures('huawei', /^npu-smi_info.*\.txt$/);
    expect(files.length).toBe(2);
    for (const f of files) expect(parseNpuSmiInfo(readFixture('huawei', f)).length).toBeGreaterThan(0);
  });

  it('uses Memory-Usage where there is no HBM column (310P layout with a Device column)', () => {
    // Hand-written after the 310P layout (Chip/Device ids, no HBM column, "NA" power): no recorded fixture.
    const text = [
      '+--------------------------------------------------------------------------------------------------------+',
      '| npu-smi 23.0.0                                   Version: 23.0.0                                       |',
      '+-------------------------------+-----------------+------------------------------------------------------+',
      '| NPU     Name                  | Health          | Power(W)     Temp(C)           Hugepages-Usage(page) |',
      '| Chip    Device                | Bus-Id          | AICore(%)    Memory-Usage(MB)                        |',
      '+===============================+=================+======================================================+',
      '| 8       310P3                 | OK              | NA           45                0     / 0             |',
      '| 0       3                     | 0000:01:00.0    | 17           1782 / 21527                            |',
      '+===============================+=================+======================================================+',
    ].join('\n');
    const [chip] = parseNpuSmiInfo(text);
    expect(chip!.index).toBe(3);
    expect(chip!.name).toBe('Ascend 310P3');
    expect(chip!.powerDrawW).toBeNull();
    expect(chip!.utilizationPct).toBe(17);
    expect(chip!.memoryTotalBytes).toBe(21527 * 2 ** 20);
    expect(chip!.memoryUsedBytes).toBe(1782 * 2 ** 20);
  });

  it('prefers HBM over the DDR column when a chip has both (910A-style row)', () => {
    // The 910B4 fixture's rows with the DDR column filled in, as 910A boards print it.
    const text = readFixture('huawei', TWO_910B4).replace(
      '| 0                         | 0000:41:00.0  | 0           0    / 0          2922 / 32768         |',
      '| 0                         | 0000:41:00.0  | 5           3361 / 15079     2922 / 32768         |',
    );
    const [chip] = parseNpuSmiInfo(text);
    expect(chip!.utilizationPct).toBe(5);
    expect(chip!.memoryTotalBytes).toBe(32768 * 2 ** 20);
    expect(chip!.memoryUsedBytes).toBe(2922 * 2 ** 20);
  });

  it('refuses empty output and binary junk', () => {
    expectInvalid('');
    expectInvalid('\u0000\u0001\u00ff\ufffd\n|\u0002|');
  });

  it('refuses nvidia-smi output and a header cut before its second row', () => {
    expectInvalid(readFixture('nvidia', 'nvidia-smi_table__4x_A100_SXM4_555.42.02__idle.txt'));
    expectInvalid(readFixture('huawei', TWO_910B4).split('\n').slice(0, 4).join('\n'));
  });
});

import { describe, expect, it } from 'vitest';
import { FleetError, GpuSnapshot } from '@gpufleet/protocol';
import { readFixture } from '../../testing/fixtures.js';
import { parseAmdSmiJson } from './amd-smi-json.js';

const LIST_FIXTURE = 'amd-smi_metric_-p_json__pre-v26-list-format_amdsmi-CHANGELOG.json';

/**
 * Turns `amd-smi static` human output into the JSON `amd-smi static --json` prints for the same
 * data: one record per "GPU: n"/"CPU: n" block, keys lower-cased, "550 W" as
 * {"value": 550, "unit": "W"}, "N/A" kept as is. There is no recorded static JSON, so the
 * README's real MI300A values travel through this shape.
 */
function staticTextToJson(text: string): unknown[] {
  const records: Record<string, unknown>[] = [];
  let stack: { indent: number; obj: Record<string, unknown> }[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\s*)([A-Z][A-Z0-9_ ]*):\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, spaces, rawKey, rawValue] = m;
    const indent = spaces!.length;
    if (indent === 0) {
      const rec = { [rawKey!.toLowerCase()]: Number(rawValue) };
      records.push(rec);
      stack = [{ indent: 0, obj: rec }];
      continue;
    }
    while (stack.length > 1 && stack[stack.length - 1]!.indent >= indent) stack.pop();
    const parent = stack[stack.length - 1]!.obj;
    const key = rawKey!.toLowerCase().replace(/ /g, '_');
    if (rawValue === '') {
      const child: Record<string, unknown> = {};
      parent[key] = child;
      stack.push({ indent, obj: child });
    } else {
      const unit = /^(-?\d+(?:\.\d+)?) (W|MB|KB|°C)$/.exec(rawValue!);
      parent[key] = unit ? { value: Number(unit[1]), unit: unit[2] } : rawValue;
    }
  }
  return records;
}

function expectInvalid(text: string, mention = 'amd-smi'): void {
  let caught: unknown;
  try {
    parseAmdSmiJson(text);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(FleetError);
  expect((caught as FleetError).code).toBe('invalid_argument');
  expect((caught as FleetError).message).toContain(mention);
}

describe('parseAmdSmiJson: pre-26 top-level list', () => {
  it('reads the CHANGELOG `amd-smi metric -p --json` record', () => {
    const gpus = parseAmdSmiJson(readFixture('amd', LIST_FIXTURE));
    expect(gpus).toHaveLength(1);
    const [g] = gpus;
    expect(g!.vendor).toBe('amd');
    expect(g!.index).toBe(0);
    expect(g!.powerDrawW).toBe(10);
    // `metric -p` prints power only: identity and other readings stay null.
    expect(g!.uuid).toBeNull();
    expect(g!.pciBusId).toBeNull();
    expect(g!.temperatureC).toBeNull();
    expect(GpuSnapshot.safeParse(g).success).toBe(true);
  });
});

describe('parseAmdSmiJson: AMD-SMI 26 {"gpu_data": [...]}', () => {
  it('gives the same GPUs for the real records wrapped the AMD-SMI 26 way', () => {
    const records = JSON.parse(readFixture('amd', LIST_FIXTURE)) as unknown[];
    // AMD-SMI 26 moved the list under a "gpu_data" key; the records themselves are unchanged.
    const wrapped = JSON.stringify({ gpu_data: records });
    const gpus = parseAmdSmiJson(wrapped);
    expect(gpus).toHaveLength(1);
    expect(gpus[0]!.powerDrawW).toBe(10);
    expect(gpus).toEqual(parseAmdSmiJson(readFixture('amd', LIST_FIXTURE)));
  });

  it('reads static records built from the MI300A README (4 GPUs, CPU records skipped)', () => {
    const records = staticTextToJson(readFixture('amd', 'amd-smi_static_text__4x_MI300A_amdsmi-README.txt'));
    expect(records).toHaveLength(8); // 4 CPUs + 4 GPUs in the README
    const gpus = parseAmdSmiJson(JSON.stringify({ gpu_data: records }));
    expect(gpus.map((g) => g.index)).toEqual([0, 1, 2, 3]);
    expect(gpus.map((g) => g.pciBusId)).toEqual(['0000:01:00.0', '0001:01:00.0', '0002:01:00.0', '0003:01:00.0']);
    expect(gpus.map((g) => g.uuid)).toEqual(['0x7E8F7E20764E2714', '0xB6AE7C8CEFE1F084', '0x367125D815189854', '0xF4C44C2BE5E66537']);
    const g = gpus[0]!;
    expect(g.name).toBe('MI300A');
    expect(g.driverVersion).toBe('6.9.0-rc5+');
    expect(g.vbiosVersion).toBeNull(); // VERSION: N/A
    expect(g.serial).toBe('0x7E8F7E20764E2714'); // PRODUCT_SERIAL is N/A, ASIC serial stands in
    expect(g.memoryTotalBytes).toBe(64289 * 1024 * 1024);
    expect(g.powerLimitW).toBe(550);
    expect(g.eccMode).toBe('disabled'); // UMC: DISABLED
    for (const gpu of gpus) expect(GpuSnapshot.safeParse(gpu).success).toBe(true);
  });

  it('reads metric records with value/unit objects (values of the 2x R9700 AMD-SMI 26.2.1 table)', () => {
    // The R9700 table's readings, as `amd-smi metric --json` carries them.
    const metric = (gpu: number, bdf: string, o: { mem: number; temp: number; w: number; fan: number }) => ({
      gpu,
      bdf,
      usage: { gfx_activity: { value: 100, unit: '%' }, umc_activity: { value: o.mem, unit: '%' }, mm_activity: 'N/A' },
      power: { socket_power: { value: o.w, unit: 'W' }, gfx_voltage: 'N/A', power_management: 'ENABLED' },
      clock: {
        gfx_0: { clk: { value: 2350, unit: 'MHz' }, min_clk: 'N/A', max_clk: 'N/A' },
        mem_0: { clk: { value: 1258, unit: 'MHz' } },
      },
      temperature: { edge: 'N/A', hotspot: { value: o.temp, unit: 'C' }, mem: { value: 70, unit: 'C' } },
      ecc: { total_correctable_count: 0, total_uncorrectable_count: 0, total_deferred_count: 0 },
      fan: { speed: 'N/A', max: 'N/A', rpm: 'N/A', usage: { value: o.fan, unit: '%' } },
      mem_usage: { total_vram: { value: 32624, unit: 'MB' }, used_vram: { value: 29777, unit: 'MB' } },
    });
    const static0 = { limit: { ppt0: { socket_power_limit: { value: 300, unit: 'W' } } } };
    const text = JSON.stringify({
      gpu_data: [
        { ...metric(0, '0000:03:00.0', { mem: 1, temp: 79, w: 103, fan: 38.82 }), ...static0 },
        { ...metric(1, '0000:43:00.0', { mem: 0, temp: 80, w: 92, fan: 40.0 }), ...static0 },
      ],
    });
    const [a, b] = parseAmdSmiJson(text);
    expect(a!.pciBusId).toBe('0000:03:00.0');
    expect(a!.temperatureC).toBe(79);
    expect(a!.memoryTemperatureC).toBe(70);
    expect(a!.powerDrawW).toBe(103);
    expect(a!.powerLimitW).toBe(300);
    expect(a!.utilizationPct).toBe(100);
    expect(a!.memoryUtilizationPct).toBe(1);
    expect(a!.memoryTotalBytes).toBe(32624 * 2 ** 20);
    expect(a!.memoryUsedBytes).toBe(29777 * 2 ** 20);
    expect(a!.smClockMhz).toBe(2350);
    expect(a!.memClockMhz).toBe(1258);
    expect(a!.fanPct).toBe(38.82);
    expect(a!.eccCorrectedVolatile).toBe(0);
    expect(a!.eccUncorrectedVolatile).toBe(0);
    expect(b!.pciBusId).toBe('0000:43:00.0');
    expect(b!.temperatureC).toBe(80);
    expect(b!.powerDrawW).toBe(92);
    expect(b!.fanPct).toBe(40);
  });
});

describe('parseAmdSmiJson: values and units', () => {
  const one = (rec: Record<string, unknown>) => parseAmdSmiJson(JSON.stringify([{ gpu: 0, ...rec }]))[0]!;

  it('converts mW, GB and GHz, and takes plain numbers in the default units', () => {
    const g = one({
      power: { socket_power: { value: 10500, unit: 'mW' } },
      mem_usage: { total_vram: { value: 192, unit: 'GB' }, used_vram: 2048 },
      clock: { gfx_0: { clk: { value: 2.1, unit: 'GHz' } } },
      temperature: { hotspot: 41, mem: '52 °C' },
    });
    expect(g.powerDrawW).toBeCloseTo(10.5);
    expect(g.memoryTotalBytes).toBe(192 * 2 ** 30);
    expect(g.memoryUsedBytes).toBe(2048 * 2 ** 20);
    expect(g.smClockMhz).toBe(2100);
    expect(g.temperatureC).toBe(41);
    expect(g.memoryTemperatureC).toBe(52);
  });

  it('makes "N/A", unknown units and missing sections null', () => {
    const g = one({
      power: { socket_power: 'N/A' },
      temperature: { hotspot: 'N/A', edge: { value: 33, unit: 'C' } },
      mem_usage: { total_vram: { value: 5, unit: 'furlongs' } },
      ecc: { total_correctable_count: 'N/A', total_uncorrectable_count: 3 },
    });
    expect(g.powerDrawW).toBeNull();
    expect(g.temperatureC).toBe(33); // edge when hotspot is N/A
    expect(g.memoryTotalBytes).toBeNull();
    expect(g.eccCorrectedVolatile).toBeNull();
    expect(g.eccUncorrectedVolatile).toBe(3);
    expect(g.smClockMhz).toBeNull();
  });

  it('takes the first die that reports a clock and reads `amd-smi list` uuid', () => {
    const g = one({
      uuid: '1fff74a1-0000-1000-80e8-4c5b1e2b0a42',
      asic: { asic_serial: '0xABC', market_name: '0x74a1' },
      board: { product_name: 'AMD Instinct MI300X' },
      clock: { gfx_1: { clk: { value: 1500, unit: 'MHz' } }, gfx_0: { clk: 'N/A' }, mem_0: { clk: 'N/A' } },
    });
    expect(g.uuid).toBe('1fff74a1-0000-1000-80e8-4c5b1e2b0a42');
    expect(g.name).toBe('AMD Instinct MI300X'); // a hex market name is an unresolved id
    expect(g.smClockMhz).toBe(1500);
    expect(g.memClockMhz).toBeNull();
  });

  it('returns no GPUs for an empty list', () => {
    expect(parseAmdSmiJson('[]')).toEqual([]);
    expect(parseAmdSmiJson('{"gpu_data": []}')).toEqual([]);
  });
});

describe('parseAmdSmiJson: bad input', () => {
  it('refuses empty and whitespace-only output', () => {
    expectInvalid('');
    expectInvalid('  \n');
  });

  it('refuses binary junk and truncated JSON', () => {
    expectInvalid('\u0000\u0001\u00ff\ufffdPK\u0003\u0004');
    const full = readFixture('amd', LIST_FIXTURE);
    expectInvalid(full.slice(0, Math.floor(full.length / 2)));
  });

  it('refuses rocm-smi JSON, naming the amd-smi format', () => {
    expectInvalid(readFixture('amd', 'rocm-smi_json__RX6700XT_rocm6.1.2_telegraf.json'), 'gpu_data');
  });

  it('refuses the wrong shapes inside otherwise valid JSON', () => {
    expectInvalid('42');
    expectInvalid('{"gpu_data": {"gpu": 0}}');
    expectInvalid('[1, 2]');
    expectInvalid('[{"cpu": 0}]');
    expectInvalid('[{"gpu": -1}]');
    expectInvalid('[{"gpu": "zero"}]');
  });
});

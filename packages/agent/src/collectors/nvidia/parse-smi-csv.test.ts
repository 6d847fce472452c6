import { describe, expect, it } from 'vitest';
import { FleetError, GpuSnapshot } from '@gpufleet/protocol';
import { bundleSectionNames, extractBundleSection } from '../../testing/capture-bundle.js';
import { listFixtures, readFixture } from '../../testing/fixtures.js';
import { NVIDIA_QUERY_FIELDS, NVIDIA_QUERY_FIELDS_PRE_R535, parseNvidiaSmiCsv } from './parse-smi-csv.js';
import { parseNvidiaSmiQ } from './parse-smi-q.js';

const MIB = 1048576;
const H100_CSV = readFixture('nvidia', 'nvidia-smi_query-gpu_csv_allfields__nvidia-h100-80gb-hbm3__590.48.01__load.csv');
const L40S_CSV = readFixture('nvidia', 'nvidia-smi_query-gpu_csv_allfields__nvidia-l40s__595.80__load.csv');
const BUNDLES = listFixtures('nvidia', /^nvidia-smi_capture_bundle__.*\.txt$/);

function expectInvalid(input: string, message: RegExp): void {
  let caught: unknown;
  try {
    parseNvidiaSmiCsv(input);
  } catch (err) {
    caught = err;
  }
  expect(FleetError.is(caught, 'invalid_argument'), `input ${JSON.stringify(input.slice(0, 40))}`).toBe(true);
  expect((caught as Error).message).toMatch(message);
}

/** Header and one data row of a CSV, split the way nvidia-smi writes them (`, `). */
function headerAndRow(csv: string): [string[], string[]] {
  const [header, row] = csv.trim().split('\n');
  return [header!.split(', '), row!.split(', ')];
}

describe('NVIDIA_QUERY_FIELDS', () => {
  it('names only fields that nvidia-smi --help-query-gpu lists, in every capture', () => {
    expect(BUNDLES.length).toBeGreaterThan(0);
    for (const bundle of BUNDLES) {
      const help = extractBundleSection(readFixture('nvidia', bundle), 'capabilities :: help-query-gpu');
      const known = new Set([...help.matchAll(/^"([^"]+)"(?: or "([^"]+)")?/gm)].flatMap((m) => [m[1], m[2]]));
      expect(known.size).toBeGreaterThan(200);
      for (const field of [...NVIDIA_QUERY_FIELDS, ...NVIDIA_QUERY_FIELDS_PRE_R535]) {
        expect(known.has(field), `${field} in ${bundle}`).toBe(true);
      }
    }
  });

  it('asks for what a snapshot needs and differs from the pre-r535 list only in the throttle field', () => {
    for (const f of ['index', 'uuid', 'pci.bus_id', 'memory.total', 'clocks_event_reasons.active', 'mig.mode.current']) {
      expect(NVIDIA_QUERY_FIELDS).toContain(f);
    }
    const diff = NVIDIA_QUERY_FIELDS_PRE_R535.filter((f) => !NVIDIA_QUERY_FIELDS.includes(f));
    expect(diff).toEqual(['clocks_throttle_reasons.active']);
    expect(Object.isFrozen(NVIDIA_QUERY_FIELDS)).toBe(true);
  });
});

describe('parseNvidiaSmiCsv on the recorded all-fields CSVs', () => {
  it('reads the H100 row', () => {
    const [gpu, ...rest] = parseNvidiaSmiCsv(H100_CSV);
    expect(rest).toEqual([]);
    expect(GpuSnapshot.parse(gpu)).toEqual(gpu);
    expect(gpu).toEqual({
      vendor: 'nvidia',
      index: 0,
      uuid: 'GPU-00000000-0000-0000-0000-000000000000',
      name: 'NVIDIA H100 80GB HBM3',
      pciBusId: '0000:00:09.0',
      serial: '0000000000000',
      memoryTotalBytes: 81559 * MIB,
      driverVersion: '590.48.01',
      runtimeVersion: null,
      vbiosVersion: '96.00.A5.00.01',
      powerLimitW: 700,
      migMode: 'disabled',
      migDevices: [],
      eccMode: 'enabled',
      temperatureC: 59,
      memoryTemperatureC: 54,
      utilizationPct: 100,
      memoryUtilizationPct: 11,
      memoryUsedBytes: 19818 * MIB,
      powerDrawW: 631.95,
      smClockMhz: 1980,
      memClockMhz: 2619,
      fanPct: null,
      eccCorrectedVolatile: 0,
      eccUncorrectedVolatile: 0,
      eccCorrectedAggregate: 0,
      eccUncorrectedAggregate: 0,
      retiredPagesSbe: null,
      retiredPagesDbe: null,
      retiredPagesPending: null,
      remappedRowsCorrectable: 0,
      remappedRowsUncorrectable: 0,
      remappedRowsPending: false,
      remappedRowsFailure: false,
      throttleReasons: [],
      pcieReplayCount: null, // only the -q report has it
    });
  });

  it('reads the L40S row', () => {
    const [gpu] = parseNvidiaSmiCsv(L40S_CSV);
    expect(gpu).toMatchObject({
      name: 'NVIDIA L40S',
      pciBusId: '0000:01:00.0',
      driverVersion: '595.80',
      vbiosVersion: '95.02.66.00.02',
      memoryTotalBytes: 46068 * MIB,
      memoryUsedBytes: 1235 * MIB,
      utilizationPct: 9,
      memoryUtilizationPct: 2,
      temperatureC: 54,
      memoryTemperatureC: null, // `N/A` without brackets
      powerDrawW: 110.23,
      powerLimitW: 350,
      smClockMhz: 2520,
      memClockMhz: 9001,
      migMode: null, // [N/A]
      eccMode: 'enabled',
      remappedRowsCorrectable: 0,
      throttleReasons: [],
    });
  });

  it('gives the same snapshot with units stripped from the values (--format=csv,nounits)', () => {
    const [header, row] = headerAndRow(H100_CSV);
    const bare = row.map((v) => v.replace(/^(-?[\d.]+) (MiB|%|W|MHz|us)$/, '$1'));
    expect(bare).not.toEqual(row);
    const nounits = `${header.join(', ')}\n${bare.join(', ')}\n`;
    expect(parseNvidiaSmiCsv(nounits)).toEqual(parseNvidiaSmiCsv(H100_CSV));
  });

  it('reads by header name whatever the column order', () => {
    const [header, row] = headerAndRow(L40S_CSV);
    const reversed = `${[...header].reverse().join(', ')}\n${[...row].reverse().join(', ')}`;
    expect(parseNvidiaSmiCsv(reversed)).toEqual(parseNvidiaSmiCsv(L40S_CSV));
  });

  it('agrees with the -q report of the same capture on the static facts', () => {
    for (const bundle of BUNDLES) {
      const text = readFixture('nvidia', bundle);
      for (const phase of ['idle', 'load']) {
        const csvName = bundleSectionNames(text).find((n) => n.startsWith(`${phase} :: query-gpu (csv`));
        const [fromCsv] = parseNvidiaSmiCsv(extractBundleSection(text, csvName!));
        const [fromQ] = parseNvidiaSmiQ(extractBundleSection(text, `${phase} :: query (-q)`));
        for (const key of [
          'uuid',
          'name',
          'pciBusId',
          'serial',
          'memoryTotalBytes',
          'driverVersion',
          'vbiosVersion',
          'powerLimitW',
          'eccMode',
          'migMode',
        ] as const) {
          expect(fromCsv![key], `${bundle} ${phase} ${key}`).toEqual(fromQ![key]);
        }
      }
    }
  });
});

describe('parseNvidiaSmiCsv on the 8-GPU snippets', () => {
  // Blocks of the snippets file are separated by `#` comment lines naming their source.
  const blocks: string[] = [];
  let current: string[] = [];
  for (const line of [...readFixture('nvidia', 'nvidia-smi_query-gpu_csv__8x_multi-gpu_snippets.txt').split('\n'), '#']) {
    if (line.startsWith('#')) {
      if (current.join('').trim() !== '') blocks.push(current.join('\n').trim());
      current = [];
    } else {
      current.push(line);
    }
  }

  it('finds four blocks, two with a header', () => {
    expect(blocks).toHaveLength(4);
    expect(blocks.filter((b) => b.startsWith('index, name'))).toHaveLength(2);
  });

  it('reads the 8x H100 block', () => {
    const gpus = parseNvidiaSmiCsv(blocks[0]!);
    expect(gpus.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(gpus.map((g) => g.name))).toEqual(new Set(['NVIDIA H100 80GB HBM3']));
    expect(gpus.map((g) => g.utilizationPct)).toEqual([100, 98, 100, 100, 100, 98, 100, 99]);
    expect(gpus.map((g) => g.memoryUsedBytes! / MIB)).toEqual([78942, 78990, 78990, 78750, 21340, 19760, 19742, 19770]);
    expect(gpus.every((g) => g.memoryTotalBytes === 81559 * MIB)).toBe(true);
    expect(gpus.every((g) => g.uuid === null && g.pciBusId === null && g.temperatureC === null)).toBe(true);
  });

  it('reads the 8x A100 block (other column order)', () => {
    const gpus = parseNvidiaSmiCsv(blocks[1]!);
    expect(gpus.map((g) => g.name)).toEqual(Array(8).fill('NVIDIA A100-SXM4-80GB'));
    expect(gpus.map((g) => g.memoryUsedBytes! / MIB)).toEqual([66147, 77105, 50803, 57421, 76651, 0, 6313, 6247]);
    expect(gpus.map((g) => g.utilizationPct)).toEqual([99, 0, 87, 99, 0, 0, 39, 40]);
    expect(gpus.every((g) => g.memoryTotalBytes === 81920 * MIB)).toBe(true);
  });

  it('refuses the noheader blocks, naming the missing header', () => {
    expectInvalid(blocks[2]!, /with a header row .*the first line is not a header \(0, NVIDIA A100-SXM4-80GB, 28, 63\.28 W, 400 W\)/);
    expectInvalid(blocks[3]!, /the first line is not a header \(0, NVIDIA H100 80GB HBM3, 00000000:18:00\.0\)/);
  });
});

describe('parseNvidiaSmiCsv details', () => {
  it('decodes the clocks-event bitmask, under either field name', () => {
    const csv = (name: string, mask: string): string => `index, ${name}\n0, ${mask}\n`;
    expect(parseNvidiaSmiCsv(csv('clocks_event_reasons.active', '0x0000000000000044'))[0]!.throttleReasons).toEqual(['sw_power_cap', 'hw_thermal_slowdown']);
    expect(parseNvidiaSmiCsv(csv('clocks_throttle_reasons.active', '0x0000000000000001'))[0]!.throttleReasons).toEqual(['gpu_idle']);
    expect(parseNvidiaSmiCsv(csv('clocks_event_reasons.active', '[Not Supported]'))[0]!.throttleReasons).toEqual([]);
  });

  it('falls back to the per-reason Active columns without the bitmask', () => {
    const csv =
      'index, clocks_event_reasons.gpu_idle, clocks_event_reasons.sw_thermal_slowdown, clocks_throttle_reasons.hw_slowdown\n3, Not Active, Active, Active\n';
    const [gpu] = parseNvidiaSmiCsv(csv);
    expect(gpu!.index).toBe(3);
    expect(gpu!.throttleReasons).toEqual(['hw_slowdown', 'sw_thermal_slowdown']);
  });

  it('understands alias field names and quoted fields', () => {
    const csv = [
      'gpu_name, gpu_bus_id, gpu_uuid, clocks.sm [MHz], clocks.mem [MHz], retired_pages.sbe, retired_pages.dbe, remapped_rows.dbe, gpu.power.current_limit [W]',
      '"Tesla V100-SXM2-16GB, rev ""B""", 00000000:1A:00.0, GPU-1, 1530 MHz, 877 MHz, 4, 1, 2, 300.00 W',
    ].join('\n');
    const [gpu] = parseNvidiaSmiCsv(csv);
    expect(gpu).toMatchObject({
      index: 0,
      name: 'Tesla V100-SXM2-16GB, rev "B"',
      pciBusId: '0000:1a:00.0',
      uuid: 'GPU-1',
      smClockMhz: 1530,
      memClockMhz: 877,
      retiredPagesSbe: 4,
      retiredPagesDbe: 1,
      remappedRowsUncorrectable: 2,
      powerLimitW: 300,
    });
  });

  it('takes the power draw from power.draw.instant when the average is missing', () => {
    expect(parseNvidiaSmiCsv('index, power.draw [W], power.draw.instant [W]\n0, [N/A], 88.50 W\n')[0]!.powerDrawW).toBe(88.5);
  });

  it('gives [] for a header with no rows', () => {
    expect(parseNvidiaSmiCsv('index, uuid, memory.total [MiB]\n')).toEqual([]);
  });
});

describe('parseNvidiaSmiCsv on wrong input', () => {
  it('refuses empty input', () => {
    expectInvalid('', /expected nvidia-smi --query-gpu CSV output with a header row.*got empty input/);
    expectInvalid('\n\n', /got empty input/);
  });

  it('refuses binary junk', () => {
    const junk = String.fromCharCode(...Array.from({ length: 512 }, (_, i) => (i * 131 + 7) % 256));
    expectInvalid(junk, /expected nvidia-smi --query-gpu CSV output/);
  });

  it('refuses XML and -q text', () => {
    expectInvalid(readFixture('nvidia', 'nvidia-smi_-q_-x__RTX4000-SFF-Ada_v13_telegraf.xml'), /the first line is not a header \(<\?xml/);
    expectInvalid(readFixture('nvidia', 'nvidia-smi_-q__nvidia-l40s__595.80__load.txt'), /the first line is not a header/);
  });

  it('refuses a header with no field it reads', () => {
    expectInvalid('timestamp, pstate\n2026/07/14 08:12:53.353, P0\n', /none of the columns is a GPU field this parser reads/);
  });

  it('refuses rows with a different number of fields than the header (truncated output)', () => {
    const [header, row] = headerAndRow(H100_CSV);
    expectInvalid(`${header.join(', ')}\n${row.slice(0, 40).join(', ')}`, /data row 1 has 40 fields but the header has 2\d\d/);
  });

  it('refuses an unclosed quote', () => {
    expectInvalid('index, name\n0, "NVIDIA H100\n', /line 2: a quoted field is not closed/);
  });
});

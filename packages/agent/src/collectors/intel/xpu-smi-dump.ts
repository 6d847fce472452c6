import { FleetError, type GpuSnapshot } from '@gpufleet/protocol';

const FORMAT = 'xpu-smi dump CSV (`xpu-smi dump -d N -m 0,1,2,...`: a "Timestamp, DeviceId, ..." header, then rows)';

function invalid(reason: string): FleetError {
  return new FleetError('invalid_argument', `expected ${FORMAT}: ${reason}`, {
    details: { format: 'xpu-smi-dump-csv' },
  });
}

/** The readings a dump column can hold, and how a cell becomes one. */
type DumpField =
  | 'utilizationPct'
  | 'powerDrawW'
  | 'smClockMhz'
  | 'temperatureC'
  | 'memoryTemperatureC'
  | 'memoryUtilizationPct'
  | 'memoryUsedBytes'
  | 'eccCorrectedVolatile'
  | 'eccUncorrectedVolatile';

/** Readings from one dump row, keyed like GpuSnapshot. */
export type XpuSmiDumpReading = Partial<Pick<GpuSnapshot, DumpField>>;

interface Column {
  field: DumpField;
  scale: number;
  integer?: boolean;
}

/**
 * Column headers xpu-smi prints, lower-cased (names of `xpu-smi dump -h`, metric id in the
 * comment). Columns not listed here (energy, engine groups, PCIe, Xe Link...) are skipped.
 */
const COLUMNS: Record<string, Column> = {
  'gpu utilization (%)': { field: 'utilizationPct', scale: 1 }, // 0, older releases
  'average % utilization of all gpu engines': { field: 'utilizationPct', scale: 1 }, // 0
  'gpu power (w)': { field: 'powerDrawW', scale: 1 }, // 1
  'gpu frequency (mhz)': { field: 'smClockMhz', scale: 1 }, // 2
  'gpu core temperature (celsius degree)': { field: 'temperatureC', scale: 1 }, // 3
  'gpu core temperature (c)': { field: 'temperatureC', scale: 1 },
  'gpu memory temperature (celsius degree)': { field: 'memoryTemperatureC', scale: 1 }, // 4
  'gpu memory temperature (c)': { field: 'memoryTemperatureC', scale: 1 },
  // Metric 5, "GPU Memory Utilization (%)", is memory in use over memory size, an allocation
  // figure; memoryUtilizationPct means memory bandwidth busy (dcgm's MEM_COPY_UTIL), which is
  // metric 17. Used memory comes from metric 18 in bytes instead.
  'gpu memory bandwidth utilization (%)': { field: 'memoryUtilizationPct', scale: 1 }, // 17
  'gpu memory used (mib)': { field: 'memoryUsedBytes', scale: 2 ** 20, integer: true }, // 18
  // Level Zero RAS counters run from driver load: NVIDIA's "volatile" counters.
  'gpu memory errors correctable': { field: 'eccCorrectedVolatile', scale: 1, integer: true }, // 29
  'gpu memory errors uncorrectable': { field: 'eccUncorrectedVolatile', scale: 1, integer: true }, // 30
};

function cellValue(cell: string, col: Column): number | null {
  const t = cell.trim();
  if (!/^-?\d+(?:\.\d+)?$/.test(t)) return null; // "N/A", empty, anything odd
  const v = Number(t) * col.scale;
  return col.integer ? Math.round(v) : v;
}

/**
 * Parses the CSV `xpu-smi dump` writes: one row per device per interval. Keeps the latest
 * row of each device (rows come in time order) and returns its readings keyed by device id.
 * "N/A" and empty cells become null; a cut-off last row (the dump was stopped mid-write) is
 * skipped.
 *
 * @throws FleetError('invalid_argument') when the text is not a device-level xpu-smi dump.
 */
export function parseXpuSmiDump(csv: string): Map<number, XpuSmiDumpReading> {
  if (typeof csv !== 'string' || csv.trim() === '') throw invalid('the output is empty');
  const lines = csv.split(/\r?\n/);
  // xpu-smi may print notices before the header; the header is the first line naming both columns.
  const headerAt = lines.findIndex((l) => /^\s*timestamp\s*,\s*deviceid\s*(,|$)/i.test(l));
  if (headerAt < 0) throw invalid('no "Timestamp, DeviceId" header line');
  const headers = lines[headerAt]!.split(',').map((h) => h.trim().toLowerCase());
  if (headers.includes('tileid')) {
    throw invalid('this dump is per tile (a TileId column); run `xpu-smi dump` without -t for device-level rows');
  }
  const columns = headers.map((h) => COLUMNS[h]);

  const latest = new Map<number, XpuSmiDumpReading>();
  for (const line of lines.slice(headerAt + 1)) {
    if (line.trim() === '') continue;
    const cells = line.split(',');
    if (cells.length !== headers.length) continue; // a row cut off mid-write
    const id = cells[1]!.trim();
    if (!/^\d+$/.test(id)) continue;
    const reading: XpuSmiDumpReading = {};
    columns.forEach((col, i) => {
      if (col) reading[col.field] = reading[col.field] ?? cellValue(cells[i]!, col);
    });
    latest.set(Number(id), reading);
  }
  return latest;
}

import { emptyGpuSnapshot, FleetError, normalizePciBusId, type GpuSnapshot, type ThrottleReason } from '@gpufleet/protocol';
import { splitCsvRows } from './csv-rows.js';
import {
  activeOf,
  bytesOf,
  celsiusOf,
  cleanValue,
  countOf,
  enabledOf,
  mhzOf,
  percentOf,
  sortReasons,
  throttleReasonOf,
  throttleReasonsOfMask,
  wattsOf,
  yesNoOf,
} from './smi-values.js';

/**
 * The `--query-gpu` fields the agent asks for, in nvidia-smi's canonical spelling (as listed
 * by `nvidia-smi --help-query-gpu`, r590). nvidia-smi fails the whole query when one field is
 * unknown to the installed driver: drivers before r535 know the throttle bitmask only as
 * `clocks_throttle_reasons.active`, so use NVIDIA_QUERY_FIELDS_PRE_R535 there (classify the
 * `Field "..." is not a valid field to query` failure to know when to fall back).
 */
export const NVIDIA_QUERY_FIELDS: readonly string[] = Object.freeze([
  'index',
  'uuid',
  'name',
  'pci.bus_id',
  'serial',
  'driver_version',
  'vbios_version',
  'memory.total',
  'memory.used',
  'utilization.gpu',
  'utilization.memory',
  'temperature.gpu',
  'temperature.memory',
  'power.draw',
  'power.limit',
  'enforced.power.limit',
  'clocks.current.sm',
  'clocks.current.memory',
  'fan.speed',
  'ecc.mode.current',
  'ecc.errors.corrected.volatile.total',
  'ecc.errors.uncorrected.volatile.total',
  'ecc.errors.corrected.aggregate.total',
  'ecc.errors.uncorrected.aggregate.total',
  'retired_pages.single_bit_ecc.count',
  'retired_pages.double_bit.count',
  'retired_pages.pending',
  'remapped_rows.correctable',
  'remapped_rows.uncorrectable',
  'remapped_rows.pending',
  'remapped_rows.failure',
  'clocks_event_reasons.active',
  'mig.mode.current',
]);

/** NVIDIA_QUERY_FIELDS with the throttle bitmask under its pre-r535 name. */
export const NVIDIA_QUERY_FIELDS_PRE_R535: readonly string[] = Object.freeze(
  NVIDIA_QUERY_FIELDS.map((f) => (f === 'clocks_event_reasons.active' ? 'clocks_throttle_reasons.active' : f)),
);

/** Other names nvidia-smi accepts for the same fields (`--help-query-gpu`: `"a" or "b"`), lower case. */
const ALIASES: Record<string, string> = {
  gpu_name: 'name',
  gpu_serial: 'serial',
  gpu_uuid: 'uuid',
  gpu_bus_id: 'pci.bus_id',
  'clocks.sm': 'clocks.current.sm',
  'clocks.mem': 'clocks.current.memory',
  'retired_pages.sbe': 'retired_pages.single_bit_ecc.count',
  'retired_pages.dbe': 'retired_pages.double_bit.count',
  'remapped_rows.sbe': 'remapped_rows.correctable',
  'remapped_rows.dbe': 'remapped_rows.uncorrectable',
  'gpu.power.draw.average': 'power.draw.average',
  'gpu.power.draw.instant': 'power.draw.instant',
  'gpu.power.requested_limit': 'power.limit',
  'gpu.power.current_limit': 'enforced.power.limit',
};

/** Every column this parser reads (canonical, lower case); the rest are ignored. */
const KNOWN = new Set([...NVIDIA_QUERY_FIELDS, 'power.draw.average', 'power.draw.instant'].map((f) => f.toLowerCase()).concat(Object.keys(ALIASES)));

const EXPECTED = 'expected nvidia-smi --query-gpu CSV output with a header row (--format=csv or csv,nounits)';
const HEADER_CELL = /^([A-Za-z_][A-Za-z0-9_.]*)(?:\s*\[([^\]]*)\])?$/;

interface Column {
  name: string;
  unit: string;
}

/**
 * Parses `nvidia-smi --query-gpu=... --format=csv[,nounits]` by header name: any column order,
 * any subset of fields, unknown columns ignored, units in the header (`memory.total [MiB]`) and
 * in values (`81559 MiB`) or not, alias field names, quoted fields. One snapshot per row; its
 * `index` is the `index` column, else the row's position. The CSV has no CUDA version or MIG
 * devices, so those stay empty.
 * Throws FleetError('invalid_argument') for empty input, a missing header (`noheader` output),
 * a header with no field this parser reads, or a row whose field count differs from the header.
 */
export function parseNvidiaSmiCsv(csv: string): GpuSnapshot[] {
  if (typeof csv !== 'string' || csv.trim() === '') {
    throw new FleetError('invalid_argument', `${EXPECTED}, got empty input`);
  }
  const split = splitCsvRows(csv);
  if ('error' in split) throw new FleetError('invalid_argument', `${EXPECTED}: ${split.error}`);
  const [header, ...rows] = split.rows;
  const columns = readHeader(header!);
  return rows.map((row, position) => {
    if (row.length !== columns.length) {
      throw new FleetError('invalid_argument', `${EXPECTED}: data row ${position + 1} has ${row.length} fields but the header has ${columns.length}`);
    }
    const cells = new Map<string, { value: string; unit: string }>();
    columns.forEach((col, i) => cells.set(col.name, { value: row[i]!, unit: col.unit }));
    return snapshotFromRow(cells, position);
  });
}

function readHeader(cells: string[]): Column[] {
  const columns: Column[] = [];
  for (const cell of cells) {
    const m = HEADER_CELL.exec(cell);
    if (!m) {
      throw new FleetError('invalid_argument', `${EXPECTED}: the first line is not a header (${excerpt(cells.join(', '))})`);
    }
    const raw = m[1]!.toLowerCase();
    const name = ALIASES[raw] ?? raw.replace(/^clocks_throttle_reasons\./, 'clocks_event_reasons.');
    columns.push({ name, unit: (m[2] ?? '').trim() });
  }
  if (!columns.some((c) => KNOWN.has(c.name) || c.name.startsWith('clocks_event_reasons.'))) {
    throw new FleetError('invalid_argument', `${EXPECTED}: none of the columns is a GPU field this parser reads (${excerpt(cells.join(', '))})`);
  }
  return columns;
}

type Cells = Map<string, { value: string; unit: string }>;

function snapshotFromRow(cells: Cells, position: number): GpuSnapshot {
  const get = (name: string): string | null => cells.get(name)?.value ?? null;
  const firstOf = (...names: string[]): string | null => {
    for (const n of names) {
      if (cleanValue(get(n)) !== null) return get(n);
    }
    return null;
  };
  const s = emptyGpuSnapshot('nvidia', countOf(get('index')) ?? position);
  s.uuid = cleanValue(get('uuid'));
  s.name = cleanValue(get('name'));
  s.pciBusId = normalizePciBusId(cleanValue(get('pci.bus_id')));
  s.serial = cleanValue(get('serial'));
  s.driverVersion = cleanValue(get('driver_version'));
  s.vbiosVersion = cleanValue(get('vbios_version'));
  s.memoryTotalBytes = bytesOf(get('memory.total'), unitOf(cells, 'memory.total', 'MiB'));
  s.memoryUsedBytes = bytesOf(get('memory.used'), unitOf(cells, 'memory.used', 'MiB'));
  s.utilizationPct = percentOf(get('utilization.gpu'));
  s.memoryUtilizationPct = percentOf(get('utilization.memory'));
  s.temperatureC = celsiusOf(get('temperature.gpu'));
  s.memoryTemperatureC = celsiusOf(get('temperature.memory'));
  s.powerDrawW = wattsOf(firstOf('power.draw', 'power.draw.average', 'power.draw.instant'));
  // The enforced limit is what the GPU is held to; power.limit is the one requested.
  s.powerLimitW = wattsOf(firstOf('enforced.power.limit', 'power.limit'));
  s.smClockMhz = mhzOf(get('clocks.current.sm'));
  s.memClockMhz = mhzOf(get('clocks.current.memory'));
  s.fanPct = percentOf(get('fan.speed'));
  s.eccMode = enabledOf(get('ecc.mode.current'));
  s.migMode = enabledOf(get('mig.mode.current'));
  s.eccCorrectedVolatile = countOf(get('ecc.errors.corrected.volatile.total'));
  s.eccUncorrectedVolatile = countOf(get('ecc.errors.uncorrected.volatile.total'));
  s.eccCorrectedAggregate = countOf(get('ecc.errors.corrected.aggregate.total'));
  s.eccUncorrectedAggregate = countOf(get('ecc.errors.uncorrected.aggregate.total'));
  s.retiredPagesSbe = countOf(get('retired_pages.single_bit_ecc.count'));
  s.retiredPagesDbe = countOf(get('retired_pages.double_bit.count'));
  s.retiredPagesPending = yesNoOf(get('retired_pages.pending'));
  s.remappedRowsCorrectable = countOf(get('remapped_rows.correctable'));
  s.remappedRowsUncorrectable = countOf(get('remapped_rows.uncorrectable'));
  s.remappedRowsPending = yesNoOf(get('remapped_rows.pending'));
  s.remappedRowsFailure = yesNoOf(get('remapped_rows.failure'));
  s.throttleReasons = throttleReasonsOfRow(cells);
  return s;
}

/** The header's unit for a column, for values printed without one (`--format=csv,nounits`). */
function unitOf(cells: Cells, name: string, fallback: string): string {
  return cells.get(name)?.unit || fallback;
}

/** The `active` bitmask where asked for; otherwise the per-reason `Active` / `Not Active` columns. */
function throttleReasonsOfRow(cells: Cells): ThrottleReason[] {
  const fromMask = throttleReasonsOfMask(cells.get('clocks_event_reasons.active')?.value);
  if (fromMask) return fromMask;
  const active: ThrottleReason[] = [];
  for (const [name, cell] of cells) {
    const reason = name.startsWith('clocks_event_reasons.') ? throttleReasonOf(name) : null;
    if (reason && activeOf(cell.value)) active.push(reason);
  }
  return sortReasons(active);
}

/** A short, printable piece of bad input for an error message. */
function excerpt(text: string): string {
  // eslint-disable-next-line no-control-regex
  const printable = text.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, '?');
  return printable.length > 80 ? `${printable.slice(0, 80)}...` : printable;
}

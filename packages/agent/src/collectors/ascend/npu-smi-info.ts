import { emptyGpuSnapshot, FleetError, normalizePciBusId, type GpuSnapshot } from '@gpufleet/protocol';

const FORMAT = 'npu-smi info output (a box table headed "NPU  Name | Health | Power(W) Temp(C) ...")';

function invalid(reason: string): FleetError {
  return new FleetError('invalid_argument', `expected ${FORMAT}: ${reason}`, {
    details: { format: 'npu-smi-info' },
  });
}

const BUS_ID = /^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i;
// One value in a cell: either "used / total" or a single token.
const VALUE = /\S+\s*\/\s*\S+|\S+/g;

/** The inner cells of a complete table row, or null for a separator or a cut-off line. */
function cellsOf(line: string): string[] | null {
  const t = line.trim();
  // A row cut off by truncation does not end with its closing bar.
  if (!t.startsWith('|') || !t.endsWith('|') || t.length < 2) return null;
  return t
    .slice(1, -1)
    .split('|')
    .map((c) => c.trim());
}

/** Column names of a header cell mapped to the values of a data cell, by position. */
function byColumn(headerCell: string, dataCell: string): Map<string, string> {
  const names = headerCell.split(/\s+/).filter(Boolean);
  const values = dataCell.match(VALUE) ?? [];
  return new Map(names.map((n, i) => [n.toLowerCase(), values[i] ?? '']));
}

function num(raw: string | undefined): number | null {
  if (raw === undefined || !/^-?\d+(?:\.\d+)?$/.test(raw.trim())) return null; // "-", "NA"
  return Number(raw);
}

/** "used / total" in MB (npu-smi's MB are MiB: 32768 MB on a 32 GiB 910B4) as bytes. */
function usage(raw: string | undefined): { used: number; total: number } | null {
  const m = raw === undefined ? null : /^(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)$/.exec(raw);
  if (!m) return null;
  const total = Number(m[2]) * 2 ** 20;
  // 0 / 0 is how npu-smi says "this memory is not on this chip" (DDR on a 910B).
  return total > 0 ? { used: Math.round(Number(m[1]) * 2 ** 20), total: Math.round(total) } : null;
}

/** "910B4" -> "Ascend 910B4"; "Ascend910" -> "Ascend 910". */
function productName(raw: string): string | null {
  const model = raw.replace(/^ascend\s*/i, '').trim();
  return model === '' ? null : `Ascend ${model}`;
}

interface Header {
  first: string[]; // NPU Name | Health | Power(W) Temp(C) Hugepages-Usage(page)
  second: string[]; // Chip [Phy-ID|Device] | Bus-Id | AICore(%) Memory-Usage(MB) [HBM-Usage(MB)]
  endsAt: number;
}

function findHeader(lines: string[]): Header {
  const at = lines.findIndex((l) => {
    const c = cellsOf(l);
    return c !== null && c.length >= 3 && /^NPU\s+Name\b/i.test(c[0]!) && /^Health\b/i.test(c[1]!);
  });
  if (at < 0) throw invalid('no "NPU  Name | Health" header row');
  for (let i = at + 1; i < lines.length; i++) {
    const c = cellsOf(lines[i]!);
    if (c === null) continue;
    if (c.length >= 3 && /^Chip\b/i.test(c[0]!)) return { first: cellsOf(lines[at]!)!, second: c, endsAt: i };
    break;
  }
  throw invalid('the "NPU  Name" header row is not followed by a "Chip | Bus-Id" row');
}

/**
 * Parses `npu-smi info`. Each chip takes two rows: (NPU id, name | health | power, temp,
 * hugepages) then (chip id [, Phy-ID] | bus id | AICore %, memory, HBM). Dual-die parts list
 * each die as its own pair under one NPU id. The process table that follows is ignored, and so
 * is a trailing chip whose rows were cut off.
 *
 * A chip's index is its Phy-ID (or Device id on 310-series layouts) where printed, else its
 * position in the table. npu-smi info prints no UUID: uuid is null and the chip is known by its
 * PCI bus id.
 *
 * @throws FleetError('invalid_argument') when the text is not npu-smi info output.
 */
export function parseNpuSmiInfo(text: string): GpuSnapshot[] {
  if (typeof text !== 'string' || text.trim() === '') throw invalid('the output is empty');
  const lines = text.split(/\r?\n/);
  const header = findHeader(lines);
  const driverVersion = lines.map((l) => /npu-smi\s+\S+\s+Version:\s*(\S+)/i.exec(l)?.[1]).find(Boolean) ?? null;

  const chips: GpuSnapshot[] = [];
  let pending: string[] | null = null;
  for (const line of lines.slice(header.endsAt + 1)) {
    if (line.trim().startsWith('+')) continue; // separator
    const cells = cellsOf(line);
    if (cells === null) break; // cut off: what follows cannot be trusted
    if (cells.some((c) => /^Process\b/i.test(c))) break; // the process table
    if (cells.length < 3) continue;
    if (BUS_ID.test(cells[1]!)) {
      if (pending) chips.push(chipOf(header, pending, cells, chips.length, driverVersion));
      pending = null;
    } else if (/^\d+\s+\S/.test(cells[0]!)) {
      pending = cells;
    }
  }
  return chips;
}

function chipOf(header: Header, first: string[], second: string[], position: number, driverVersion: string | null): GpuSnapshot {
  const ids = byColumn(header.second[0]!, second[0]!);
  const physical = num(ids.get('phy-id') ?? ids.get('device'));
  const s = emptyGpuSnapshot('huawei', physical !== null && Number.isInteger(physical) ? physical : position);
  s.name = productName(first[0]!.replace(/^\d+\s+/, ''));
  s.pciBusId = normalizePciBusId(second[1]!);
  s.driverVersion = driverVersion;

  const readings = byColumn(header.first[2]!, first[2]!);
  s.powerDrawW = num(readings.get('power(w)')); // "-" on the second die of a dual-die NPU
  s.temperatureC = num(readings.get('temp(c)'));

  const load = byColumn(header.second[2]!, second[2]!);
  s.utilizationPct = num(load.get('aicore(%)'));
  // HBM is the chip's working memory where it has any; "Memory-Usage" is its DDR.
  const memory = usage(load.get('hbm-usage(mb)')) ?? usage(load.get('memory-usage(mb)'));
  s.memoryTotalBytes = memory?.total ?? null;
  s.memoryUsedBytes = memory?.used ?? null;
  return s;
}

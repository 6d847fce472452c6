import type { GpuView, NodeView } from '@gpufleet/protocol';
import { renderTable, termSafe, type Column } from '../output.js';
import { bar, formatBytesPair, formatPct, formatTemp, formatWatts } from '../units.js';
import { avgGpuUtil, gpuSummary, maxGpuTemp, shortGpuName, totalPower } from './node-facts.js';

export interface FrameOptions {
  now: number;
  /** Terminal size; undefined when unknown (one frame printed to a pipe). */
  width?: number;
  height?: number;
  server: string;
}

const STATUS_ORDER = ['OFFLINE', 'UNREACHABLE', 'PENDING', 'CORDONED', 'READY', 'DECOMMISSIONED'];

function clock(now: number): string {
  return new Date(now).toISOString().slice(11, 19);
}

function kw(watts: number): string {
  return watts >= 10_000 ? `${(watts / 1000).toFixed(1)} kW` : `${Math.round(watts)} W`;
}

function header(left: string, now: number, width: number | undefined): string {
  const right = `${clock(now)} UTC  (q quits)`;
  if (width === undefined || left.length + right.length + 2 > width) return `${left}\n`;
  return `${left}${' '.repeat(width - left.length - right.length)}${right}\n`;
}

/** Bar width that leaves room for the rest of the row: between min and max cells. */
function barWidth(width: number | undefined, fixed: number, bars: number, min = 5, max = 30): number {
  if (width === undefined) return 20;
  return Math.max(min, Math.min(max, Math.floor((width - fixed) / bars)));
}

function limitRows<T>(rows: T[], height: number | undefined, reserved: number): { shown: T[]; hidden: number } {
  if (height === undefined) return { shown: rows, hidden: 0 };
  const room = Math.max(1, height - reserved);
  return rows.length <= room ? { shown: rows, hidden: 0 } : { shown: rows.slice(0, room - 1), hidden: rows.length - room + 1 };
}

/** The fleet view: a summary line, then one row per node with a GPU utilization bar. */
export function renderFleetFrame(nodes: readonly NodeView[], opts: FrameOptions): string {
  const byStatus = new Map<string, number>();
  for (const n of nodes) byStatus.set(n.status, (byStatus.get(n.status) ?? 0) + 1);
  const gpus = nodes.reduce((a, n) => a + n.gpus.length, 0);
  const power = nodes.reduce((a, n) => a + (totalPower(n) ?? 0), 0);
  const utils = nodes.flatMap((n) => n.gpus.map((g) => g.sample?.utilizationPct)).filter((v): v is number => typeof v === 'number');
  const avg = utils.length ? utils.reduce((a, b) => a + b, 0) / utils.length : null;
  const statusText = STATUS_ORDER.filter((s) => byStatus.has(s))
    .map((s) => `${byStatus.get(s)} ${s}`)
    .join(', ');
  let out = header(
    `gpufleet top  ${opts.server}  ${nodes.length} node${nodes.length === 1 ? '' : 's'}${statusText ? ` (${statusText})` : ''}  ${gpus} GPUs  ${kw(power)}  avg util ${formatPct(avg)}`,
    opts.now,
    opts.width,
  );
  out += `fleet GPU util ${bar(avg, barWidth(opts.width, 30, 1, 10, 50))} ${formatPct(avg)}\n\n`;

  const sorted = [...nodes].sort((a, b) => STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status) || a.hostname.localeCompare(b.hostname));
  const { shown, hidden } = limitRows(sorted, opts.height, 6);
  const w = barWidth(opts.width, 75, 1);
  const columns: Column<NodeView>[] = [
    { header: 'NAME', get: (n) => n.hostname },
    { header: 'STATUS', get: (n) => n.status },
    { header: 'GPUS', get: (n) => gpuSummary(n.gpus) },
    { header: 'GPU UTIL', get: (n) => `${bar(avgGpuUtil(n), w)} ${formatPct(avgGpuUtil(n)).padStart(4)}` },
    { header: 'TEMP', get: (n) => formatTemp(maxGpuTemp(n)), align: 'right' },
    { header: 'POWER', get: (n) => (totalPower(n) === null ? '-' : kw(totalPower(n)!)), align: 'right' },
    { header: 'CPU', get: (n) => formatPct(n.host?.cpuPct), align: 'right' },
  ];
  out += nodes.length === 0 ? 'no nodes yet\n' : renderTable(columns, shown, { width: opts.width });
  if (hidden > 0) out += `… and ${hidden} more nodes (a taller terminal shows more; or gpufleet top <node>)\n`;
  return out;
}

/** One node: host readings, then one row per GPU with util, memory, temperature and power bars. */
export function renderNodeFrame(node: NodeView, opts: FrameOptions): string {
  const h = node.host;
  const hostText = h
    ? `cpu ${formatPct(h.cpuPct)}  mem ${formatBytesPair(h.memoryUsedBytes, h.memoryTotalBytes)}  load ${h.load1.toFixed(2)}`
    : 'no host readings yet';
  // Hostname and GPU names are host-reported: the header is one escaped line.
  let out = header(
    termSafe(`gpufleet top  ${node.hostname} (${node.status}${node.connected ? '' : ', not connected'})  ${gpuSummary(node.gpus)}  ${hostText}`),
    opts.now,
    opts.width,
  );
  out += '\n';
  const w = barWidth(opts.width, 80, 4, 4, 20);
  const memPct = (g: GpuView) => {
    const used = g.sample?.memoryUsedBytes;
    const total = g.sample?.memoryTotalBytes ?? g.memoryTotalBytes;
    return typeof used === 'number' && typeof total === 'number' && total > 0 ? (used / total) * 100 : null;
  };
  const powerPct = (g: GpuView) => {
    const draw = g.sample?.powerDrawW;
    const limit = g.sample?.powerLimitW ?? g.powerLimitW;
    return typeof draw === 'number' && typeof limit === 'number' && limit > 0 ? (draw / limit) * 100 : null;
  };
  const columns: Column<GpuView>[] = [
    { header: 'GPU', get: (g) => String(g.index), align: 'right' },
    { header: 'MODEL', get: (g) => shortGpuName(g.name) },
    { header: 'UTIL', get: (g) => `${bar(g.sample?.utilizationPct, w)} ${formatPct(g.sample?.utilizationPct).padStart(4)}` },
    { header: 'MEMORY', get: (g) => `${bar(memPct(g), w)} ${formatBytesPair(g.sample?.memoryUsedBytes, g.sample?.memoryTotalBytes ?? g.memoryTotalBytes)}` },
    // 100 °C fills the bar: GPUs throttle in the high 80s, so a nearly full bar is a warning.
    { header: 'TEMP', get: (g) => `${bar(g.sample?.temperatureC, w)} ${formatTemp(g.sample?.temperatureC).padStart(5)}` },
    { header: 'POWER', get: (g) => `${bar(powerPct(g), w)} ${formatWatts(g.sample?.powerDrawW, g.sample?.powerLimitW ?? g.powerLimitW)}` },
  ];
  const { shown, hidden } = limitRows(
    [...node.gpus].sort((a, b) => a.index - b.index),
    opts.height,
    4,
  );
  out += node.gpus.length === 0 ? 'this node has no GPUs\n' : renderTable(columns, shown, { width: opts.width });
  if (hidden > 0) out += `… and ${hidden} more GPUs\n`;
  if (node.toolFailures.length > 0)
    out += `\n${node.toolFailures.length} vendor tool failure(s): ${termSafe(`${node.toolFailures[0]!.tool}: ${node.toolFailures[0]!.message.split('\n')[0]}`)}\n`;
  return out;
}

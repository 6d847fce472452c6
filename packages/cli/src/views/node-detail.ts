import type { GpuView, NodeView } from '@gpufleet/protocol';
import { renderTable, termSafe, type Column } from '../output.js';
import { formatBytes, formatBytesPair, formatPct, formatTemp, formatWatts, relativeTime } from '../units.js';
import { labelText, shortGpuName } from './node-facts.js';

/** GPU columns shared by `nodes get` and `gpus ls`. */
export function gpuColumns<T>(gpuOf: (row: T) => GpuView): Column<T>[] {
  return [
    { header: 'INDEX', get: (r) => String(gpuOf(r).index), align: 'right' },
    { header: 'MODEL', get: (r) => shortGpuName(gpuOf(r).name) },
    { header: 'MEMORY', get: (r) => formatBytesPair(gpuOf(r).sample?.memoryUsedBytes, gpuOf(r).memoryTotalBytes) },
    { header: 'UTIL', get: (r) => formatPct(gpuOf(r).sample?.utilizationPct), align: 'right' },
    { header: 'TEMP', get: (r) => formatTemp(gpuOf(r).sample?.temperatureC), align: 'right' },
    { header: 'POWER', get: (r) => formatWatts(gpuOf(r).sample?.powerDrawW, gpuOf(r).sample?.powerLimitW ?? gpuOf(r).powerLimitW), align: 'right' },
    { header: 'UUID', get: (r) => gpuOf(r).uuid ?? '-', wide: true },
    { header: 'PCI BUS', get: (r) => gpuOf(r).pciBusId ?? '-', wide: true },
    { header: 'DRIVER', get: (r) => gpuOf(r).driverVersion ?? '-', wide: true },
    { header: 'ECC', get: (r) => gpuOf(r).eccMode ?? '-', wide: true },
    { header: 'MIG', get: (r) => gpuOf(r).migMode ?? '-', wide: true },
  ];
}

function field(name: string, value: string): string {
  // Values carry host-reported text (hostname, OS, CPU model, labels, reasons): one escaped line each.
  return `${`${name}:`.padEnd(16)}${termSafe(value)}\n`;
}

/** `nodes get` for people: the node's facts, labels, current readings and its GPUs. */
export function renderNodeDetail(node: NodeView, opts: { now: number; width?: number; wide: boolean }): string {
  const f = node.facts;
  let out = '';
  out += field('Name', node.hostname);
  out += field('ID', node.id);
  out += field('Status', `${node.status}${node.connected ? ' (connected)' : ' (not connected)'}`);
  if (node.statusChange) out += field('Status set', `by ${node.statusChange.by}: ${node.statusChange.reason ?? '-'}`);
  if (node.health) out += field('Health', `${node.health.verdict}${node.health.cause ? ` (${node.health.cause})` : ''}`);
  out += field('Agent', `${node.agentVersion}${node.simulated ? ' (simulated)' : ''}`);
  out += field('Enrolled', `${node.enrolledAt} (${relativeTime(node.enrolledAt, opts.now)})`);
  out += field('Last seen', relativeTime(node.lastSeenAt, opts.now));
  out += field('OS', `${f.os.name} ${f.os.version} (kernel ${f.kernel}, ${f.arch})`.replace(/\s+/g, ' '));
  out += field('CPU', `${f.cpu.model} (${f.cpu.cores} cores, ${f.cpu.threads} threads)`);
  out += field('Memory', node.host ? formatBytesPair(node.host.memoryUsedBytes, node.host.memoryTotalBytes) : formatBytes(f.memoryTotalBytes));
  if (node.host)
    out += field('CPU use', `${formatPct(node.host.cpuPct)} (load ${node.host.load1.toFixed(2)} ${node.host.load5.toFixed(2)} ${node.host.load15.toFixed(2)})`);
  if (f.containerRuntime) out += field('Containers', `${f.containerRuntime.name} (${f.containerRuntime.socket})`);
  // All labels select; only user labels can be changed with `nodes label`.
  out += field('Labels', labelText(node.labels));
  out += field('User labels', labelText(node.userLabels));
  if (opts.wide) {
    for (const d of f.disks) out += field('Disk', `${d.mount} ${d.fsType} ${formatBytesPair(d.usedBytes, d.totalBytes)} (${d.device})`);
    for (const n of f.network) out += field('Network', `${n.name} ${n.addresses.join(' ') || '-'}${n.mac ? ` (${n.mac})` : ''}`);
  }
  out += `\nGPUs (${node.gpus.length}):\n`;
  if (node.gpus.length === 0) out += '  none found\n';
  else {
    const columns = [
      ...gpuColumns<GpuView>((g) => g),
      // Per-GPU state and verdict: one bad GPU is cordoned while the others keep working.
      { header: 'STATE', get: (g: GpuView) => g.state ?? '-' },
      { header: 'HEALTH', get: (g: GpuView) => (g.health ? `${g.health.verdict}${g.health.rule ? ` (${g.health.rule})` : ''}` : '-') },
    ];
    const table = renderTable(columns, node.gpus, { width: opts.width === undefined ? undefined : opts.width - 2, wide: opts.wide });
    out += `${table
      .split('\n')
      .filter(Boolean)
      .map((l) => `  ${l}`)
      .join('\n')}\n`;
  }
  if (node.toolFailures.length > 0) {
    out += '\nTool failures:\n';
    for (const t of node.toolFailures)
      out += `  ${termSafe(`${t.vendor} ${t.tool}${t.exitCode === null ? '' : ` (exit ${t.exitCode})`}: ${t.message.split('\n')[0]}`)}\n`;
  }
  return out;
}

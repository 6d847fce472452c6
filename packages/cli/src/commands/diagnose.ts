import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { GpuSnapshot } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { UsageError } from '../errors.js';
import { print, type Column } from '../output.js';
import { formatBytesPair, formatPct, formatTemp, formatWatts } from '../units.js';

type Parser = (text: string) => GpuSnapshot[];
type Agent = typeof import('@gpufleet/agent');
type AgentParsers = typeof import('@gpufleet/agent');

/** The vendor-tool outputs `diagnose gpus` reads, with the agent parser for each. */
export const DIAGNOSE_FORMATS = {
  'nvidia-xml': { what: '`nvidia-smi -q -x` XML', parser: (a: AgentParsers): Parser => a.parseNvidiaSmiXml },
  'nvidia-csv': { what: '`nvidia-smi --query-gpu=... --format=csv` output', parser: (a: AgentParsers): Parser => a.parseNvidiaSmiCsv },
  'amd-smi-json': { what: '`amd-smi metric/static --json` output', parser: (a: AgentParsers): Parser => a.parseAmdSmiJson },
  'rocm-smi-json': { what: '`rocm-smi ... --json` output', parser: (a: AgentParsers): Parser => a.parseRocmSmiJson },
  'xpu-smi-json': { what: '`xpu-smi discovery -j` JSON', parser: (a: AgentParsers): Parser => a.parseXpuSmiDiscoveryJson },
  'npu-smi': { what: '`npu-smi info` text', parser: (a: AgentParsers): Parser => a.parseNpuSmiInfo },
} as const;
export type DiagnoseFormat = keyof typeof DIAGNOSE_FORMATS;

// The documented fields come first, in this order; the rest of the snapshot follows.
const LEADING = [
  'vendor',
  'index',
  'uuid',
  'name',
  'pciBusId',
  'memoryTotalBytes',
  'driverVersion',
  'temperatureC',
  'utilizationPct',
  'memoryUsedBytes',
  'powerDrawW',
] as const;

/** One GPU as `diagnose gpus -o json` prints it: every field present, null where the tool said nothing. */
export function diagnoseRecord(s: GpuSnapshot): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of LEADING) out[k] = s[k] ?? null;
  for (const [k, v] of Object.entries(s)) if (!(k in out)) out[k] = v ?? null;
  return out;
}

/** Parses one vendor tool's output with the agent's parser; a wrong format is a usage error naming the one expected. */
export async function parseToolOutput(text: string, format: DiagnoseFormat, source: string): Promise<GpuSnapshot[]> {
  const spec = DIAGNOSE_FORMATS[format];
  // Loaded on demand: the agent's collectors are only needed by this command.
  const parser = spec.parser(await import('@gpufleet/agent'));
  try {
    return parser(text);
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new UsageError(`${source} is not ${spec.what} (--format ${format}): ${why}`);
  }
}

export function diagnoseColumns(): Column<GpuSnapshot>[] {
  return [
    { header: 'INDEX', get: (g) => String(g.index), align: 'right' },
    { header: 'VENDOR', get: (g) => g.vendor },
    { header: 'NAME', get: (g) => g.name ?? '-' },
    { header: 'PCI BUS', get: (g) => g.pciBusId ?? '-' },
    { header: 'MEMORY', get: (g) => formatBytesPair(g.memoryUsedBytes, g.memoryTotalBytes) },
    { header: 'UTIL', get: (g) => formatPct(g.utilizationPct), align: 'right' },
    { header: 'TEMP', get: (g) => formatTemp(g.temperatureC), align: 'right' },
    { header: 'POWER', get: (g) => formatWatts(g.powerDrawW, g.powerLimitW), align: 'right' },
    { header: 'DRIVER', get: (g) => g.driverVersion ?? '-' },
    { header: 'UUID', get: (g) => g.uuid ?? '-', wide: true },
    { header: 'SERIAL', get: (g) => g.serial ?? '-', wide: true },
    { header: 'RUNTIME', get: (g) => g.runtimeVersion ?? '-', wide: true },
    { header: 'ECC', get: (g) => g.eccMode ?? '-', wide: true },
    { header: 'MIG', get: (g) => (g.migMode === 'enabled' ? `${g.migDevices.length} devices` : (g.migMode ?? '-')), wide: true },
    { header: 'THROTTLE', get: (g) => g.throttleReasons.join(',') || '-', wide: true },
  ];
}

/** One kernel-log GPU event as `diagnose kmsg -o json` prints it (every field present, null when unknown). */
export interface KmsgRecord {
  kind: 'xid' | 'sxid' | 'fallen-off-bus' | 'driver';
  code: number | null;
  pciBusId: string | null;
  gpuInstance: string | null;
  pid: number | null;
  process: string | null;
  message: string;
  severity: 'info' | 'warning' | 'critical';
  action: string | null;
  description: string | null;
  line: string;
}

/**
 * Reads a kernel log the way the agent's watcher does (multi-line records joined, every prefix
 * style) and returns its GPU events in order, described from the XID/SXid catalog.
 */
export function kernelLogEvents(agent: Agent, text: string, now: number): KmsgRecord[] {
  const joiner = new agent.KernelLineJoiner();
  const out: KmsgRecord[] = [];
  const take = (line: string) => {
    const e = agent.parseKernelLine(line, { now });
    if (!e) return;
    const info = agent.describeKernelEvent(e);
    out.push({
      kind: e.kind,
      code: e.code,
      pciBusId: e.pciBusId,
      gpuInstance: e.gpuInstance,
      pid: e.pid,
      process: e.process,
      message: e.message,
      severity: info.severity,
      action: info.action,
      description: info.description,
      line: e.line,
    });
  };
  for (const line of text.split(/\r?\n/)) joiner.push(line).forEach(take);
  joiner.flush().forEach(take);
  return out;
}

export function kmsgColumns(): Column<KmsgRecord>[] {
  return [
    { header: 'KIND', get: (e) => e.kind },
    { header: 'CODE', get: (e) => (e.code === null ? '-' : String(e.code)), align: 'right' },
    { header: 'PCI BUS', get: (e) => e.pciBusId ?? '-' },
    { header: 'SEVERITY', get: (e) => e.severity },
    { header: 'ACTION', get: (e) => e.action ?? '-' },
    { header: 'DESCRIPTION', get: (e) => e.description ?? '-' },
    { header: 'PROCESS', get: (e) => (e.process ? (e.pid === null ? e.process : `${e.process}[${e.pid}]`) : e.pid === null ? '-' : String(e.pid)) },
    { header: 'GPU-I', get: (e) => e.gpuInstance ?? '-', wide: true },
    { header: 'MESSAGE', get: (e) => e.message || '-', wide: true },
  ];
}

/** The text of FILE, or of stdin for `-`; an unreadable file is a usage error naming it. */
async function readInput(deps: CliDeps, from: string): Promise<{ text: string; source: string }> {
  if (from === '-') return { text: await deps.io.readStdin(), source: 'stdin' };
  try {
    return { text: readFileSync(resolve(deps.io.cwd, from), 'utf8'), source: from };
  } catch (err) {
    throw new UsageError(`cannot read ${from}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function diagnoseCommand(deps: CliDeps): Command {
  const diagnose = new Command('diagnose').description('check what gpufleet reads from vendor tools on this machine');
  diagnose.addHelpText(
    'after',
    `
Examples:
  nvidia-smi -q -x | gpufleet diagnose gpus --format nvidia-xml --from -
  gpufleet diagnose gpus --help        (every format)
  sudo dmesg -T | gpufleet diagnose kmsg -`,
  );
  diagnose
    .command('gpus')
    .description("parse a vendor tool's output the way the agent does and show the GPUs found")
    .addOption(new Option('--format <format>', 'which tool output the file holds').choices(Object.keys(DIAGNOSE_FORMATS)).makeOptionMandatory())
    .requiredOption('--from <file>', 'file to read, or - for stdin')
    .addHelpText(
      'after',
      `
Formats:
${Object.entries(DIAGNOSE_FORMATS)
  .map(([k, v]) => `  ${k.padEnd(14)} ${v.what}`)
  .join('\n')}

Examples:
  nvidia-smi -q -x | gpufleet diagnose gpus --format nvidia-xml --from -
  gpufleet diagnose gpus --format rocm-smi-json --from rocm.json -o json
  amd-smi metric --json > m.json && gpufleet diagnose gpus --format amd-smi-json --from m.json -o wide`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<{ format: DiagnoseFormat; from: string }>(cmd);
      const { text, source } = await readInput(deps, o.from);
      if (text.trim() === '') throw new UsageError(`${source} is empty: expected ${DIAGNOSE_FORMATS[o.format].what}`);
      const gpus = await parseToolOutput(text, o.format, source);
      print(deps.io, deps.format(cmd), {
        data: { gpus: gpus.map(diagnoseRecord) },
        columns: diagnoseColumns(),
        rows: gpus,
        empty: `no GPUs found in ${source}`,
      });
    });
  diagnose
    .command('kmsg')
    .description('find the GPU events (Xid, SXid, fallen off the bus, driver failures) in a kernel log, the way the agent reads it')
    .argument('<file>', 'kernel log to read (dmesg, dmesg -T, journalctl -k, /dev/kmsg dump, syslog, fabric manager log), or - for stdin')
    .addHelpText(
      'after',
      `
Severity, action and description come from the XID/SXid catalog (NVIDIA's immediate action).
Lines that are not GPU events are skipped; the fallen-off-bus forms without an Xid number count as 79.

Examples:
  sudo dmesg -T | gpufleet diagnose kmsg -
  journalctl -k --since -1d | gpufleet diagnose kmsg - -o wide
  gpufleet diagnose kmsg /var/log/kern.log -o json`,
    )
    .action(async (file: string, _opts, cmd: Command) => {
      const { text, source } = await readInput(deps, file);
      const events = kernelLogEvents(await import('@gpufleet/agent'), text, deps.now());
      print(deps.io, deps.format(cmd), { data: { events }, columns: kmsgColumns(), rows: events, empty: `no GPU events in ${source}` });
    });
  return diagnose;
}

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { GpuSnapshot } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { UsageError } from '../errors.js';
import { print, type Column } from '../output.js';
import { formatBytesPair, formatPct, formatTemp, formatWatts } from '../units.js';

type Parser = (text: string) => GpuSnapshot[];
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
const LEADING = ['vendor', 'index', 'uuid', 'name', 'pciBusId', 'memoryTotalBytes', 'driverVersion', 'temperatureC', 'utilizationPct', 'memoryUsedBytes', 'powerDrawW'] as const;

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

export function diagnoseCommand(deps: CliDeps): Command {
  const diagnose = new Command('diagnose').description('check what gpufleet reads from vendor tools on this machine');
  diagnose.addHelpText('after', `
Examples:
  nvidia-smi -q -x | gpufleet diagnose gpus --format nvidia-xml --from -
  gpufleet diagnose gpus --help        (every format)`);
  diagnose
    .command('gpus')
    .description("parse a vendor tool's output the way the agent does and show the GPUs found")
    .addOption(new Option('--format <format>', 'which tool output the file holds').choices(Object.keys(DIAGNOSE_FORMATS)).makeOptionMandatory())
    .requiredOption('--from <file>', 'file to read, or - for stdin')
    .addHelpText(
      'after',
      `
Formats:
${Object.entries(DIAGNOSE_FORMATS).map(([k, v]) => `  ${k.padEnd(14)} ${v.what}`).join('\n')}

Examples:
  nvidia-smi -q -x | gpufleet diagnose gpus --format nvidia-xml --from -
  gpufleet diagnose gpus --format rocm-smi-json --from rocm.json -o json
  amd-smi metric --json > m.json && gpufleet diagnose gpus --format amd-smi-json --from m.json -o wide`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<{ format: DiagnoseFormat; from: string }>(cmd);
      let text: string;
      let source: string;
      if (o.from === '-') {
        text = await deps.io.readStdin();
        source = 'stdin';
      } else {
        source = o.from;
        try {
          text = readFileSync(resolve(deps.io.cwd, o.from), 'utf8');
        } catch (err) {
          throw new UsageError(`cannot read ${o.from}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
      }
      if (text.trim() === '') throw new UsageError(`${source} is empty: expected ${DIAGNOSE_FORMATS[o.format].what}`);
      const gpus = await parseToolOutput(text, o.format, source);
      print(deps.io, deps.format(cmd), { data: { gpus: gpus.map(diagnoseRecord) }, columns: diagnoseColumns(), rows: gpus, empty: `no GPUs found in ${source}` });
    });
  return diagnose;
}

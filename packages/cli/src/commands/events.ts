import { Command, Option } from 'commander';
import { AgentEvent, HEALTH_TIMELINE_KINDS, type TimelineEntry } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { checkDuration, checkSelector, intOption } from '../args.js';
import { print, type Column } from '../output.js';
import { relativeTime } from '../units.js';
import { UsageError } from '../errors.js';

/** Every kind `--kind` takes: raw agent event kinds and the health records. */
export const EVENT_KINDS: readonly string[] = [...AgentEvent.shape.kind.options, ...HEALTH_TIMELINE_KINDS];

/** A GPU key for a table cell: UUIDs shortened to their first block, PCI ids as they are. */
export function shortGpu(gpu: string | null): string {
  if (gpu === null) return '-';
  return /^(GPU|MIG)-[0-9a-f]{8}-/i.test(gpu) ? `${gpu.slice(0, gpu.indexOf('-') + 9)}…` : gpu;
}

export function eventColumns(now: number): Column<TimelineEntry>[] {
  return [
    { header: 'WHEN', get: (e) => relativeTime(e.at, now) },
    { header: 'NODE', get: (e) => e.hostname ?? e.nodeId },
    { header: 'GPU', get: (e) => shortGpu(e.gpu) },
    { header: 'KIND', get: (e) => e.kind },
    { header: 'CODE', get: (e) => (e.code === null ? '-' : String(e.code)), align: 'right' },
    { header: 'MESSAGE', get: (e) => e.message },
    { header: 'AT', get: (e) => e.at, wide: true },
    { header: 'SOURCE', get: (e) => e.source, wide: true },
    { header: 'ID', get: (e) => e.id, wide: true },
  ];
}

export function eventsCommand(deps: CliDeps): Command {
  return new Command('events')
    .description('show the events timeline: XIDs and other agent events, verdict changes and state transitions, newest first')
    .option('-l, --selector <selector>', 'only nodes matching this label selector, e.g. region=eu')
    .option('--node <ref>', 'only this node (id, id prefix or hostname)')
    .option('--gpu <gpu>', 'only this GPU: UUID or PCI bus id (an index needs --node)')
    .addOption(new Option('--kind <kind>', 'only this kind').choices([...EVENT_KINDS]))
    .option('--exclude <kinds>', 'leave these kinds out (comma-separated), e.g. run-output,agent-started')
    .option('--since <duration>', 'only events newer than this, e.g. 15m, 1h or 7d')
    .option('--limit <n>', 'at most this many events', intOption('--limit', 1, 1000), 100)
    .addHelpText(
      'after',
      `
Raw events come from the agents (xid, sxid, fallen-off-bus, driver, counter, gpu-missing,
tool-failure, ...); health records from the server: verdict (a rule's verdict began or ended,
with its cause and evidence), transition (cordon, drain, ... with who and why), match (an event
recorded without changing a verdict, such as an application fault).

Examples:
  gpufleet events --since 1h
  gpufleet events -l region=eu --kind xid --since 24h
  gpufleet events --node gpu-node-07 --gpu 3
  gpufleet events --node gpu-node-07 --exclude run-started,run-output,run-result,run-refused
  gpufleet events --kind verdict -o json | jq '.items[].details.evidence'`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<{ selector?: string; node?: string; gpu?: string; kind?: string; exclude?: string; since?: string; limit: number }>(cmd);
      const exclude = o.exclude
        ?.split(',')
        .map((k) => k.trim())
        .filter((k) => k !== '');
      const unknown = exclude?.find((k) => !EVENT_KINDS.includes(k));
      if (unknown !== undefined) throw new UsageError(`--exclude: '${unknown}' is not an event kind (one of ${EVENT_KINDS.join(', ')})`);
      const query = {
        selector: checkSelector(o.selector),
        node: o.node,
        gpu: o.gpu,
        kind: o.kind,
        exclude: exclude?.join(','),
        since: o.since === undefined ? undefined : checkDuration(o.since, '--since'),
        limit: o.limit,
      };
      const result = await deps.client(cmd).get<{ items: TimelineEntry[] }>('/api/v1/events', query);
      print(deps.io, deps.format(cmd), { data: result, columns: eventColumns(deps.now()), rows: result.items, empty: 'no events match' });
    });
}

import { Command } from 'commander';
import { JOB_NAME, type AllocationView } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { checkSelector, intOption } from '../args.js';
import { resolveConnection, type ConnectionFlags } from '../connection.js';
import { UsageError } from '../errors.js';
import { print, renderData } from '../output.js';
import { followAllocLogs, lastLines, readAllocLogs, writeOutput } from '../workloads/alloc-logs.js';
import { allocPath } from '../workloads/alloc-ref.js';
import { renderAllocDetail } from '../workloads/alloc-views.js';
import { allocColumns, FINAL_ALLOC_STATUSES } from '../workloads/job-views.js';

interface LsFlags {
  selector?: string;
  job?: string;
  node?: string;
  all?: boolean;
}

/** `gpufleet allocs ls|status|logs`: the allocations of every job, where they run and what they print. */
export function allocsCommand(deps: CliDeps): Command {
  const allocs = new Command('allocs')
    .alias('alloc')
    .alias('allocations')
    .description('see the allocations of jobs: where each runs, on which GPUs, its state, and its output');
  allocs.addHelpText(
    'after',
    `
An allocation is one instance of a job's group (web-0, web-1...) placed on one node's GPUs.
Name one as JOB/NAME (llama/web-0: the newest with that name) or by its id.

Examples:
  gpufleet allocs ls
  gpufleet allocs ls -l gpu.model=H100 -o json
  gpufleet allocs status llama/web-0
  gpufleet allocs logs llama/web-0 -f`,
  );

  allocs
    .command('ls')
    .alias('list')
    .description('list allocations (those wanted or still running; --all for every one)')
    .option('-l, --selector <selector>', 'only on nodes matching this label selector, e.g. gpu.model=H100')
    .option('--job <name>', 'only this job')
    .option('--node <ref>', 'only on this node (id, id prefix or hostname)')
    .option('--all', 'also allocations that ended: stopped, failed, lost, replaced')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet allocs ls --job llama
  gpufleet allocs ls -l region=eu,gpu.model=H100
  gpufleet allocs ls --node gpu-node-07 --all -o wide`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<LsFlags>(cmd);
      if (o.job !== undefined && !JOB_NAME.test(o.job)) throw new UsageError(`--job '${o.job}' is not a job name (lowercase letters, digits and -)`);
      if (o.node !== undefined && o.node.trim() === '') throw new UsageError('--node needs a node id, id prefix or hostname');
      const result = await deps.client(cmd).get<{ items: AllocationView[] }>('/api/v1/allocations', {
        job: o.job,
        node: o.node,
        selector: checkSelector(o.selector),
        active: o.all ? undefined : 'true',
      });
      print(deps.io, deps.format(cmd), {
        data: result,
        columns: allocColumns(deps.now(), { acrossJobs: true }),
        rows: result.items,
        empty: o.all ? 'no allocations match' : 'no active allocations match (--all shows those that ended)',
      });
    });

  allocs
    .command('status')
    .alias('get')
    .description('one allocation: its job and version, node, GPUs (index and UUID), state, health, restarts and last message')
    .argument('<alloc>', 'JOB/NAME (llama/web-0) or an allocation id')
    .addHelpText('after', `\nExamples:\n  gpufleet allocs status llama/web-0\n  gpufleet allocs status llama/web-0 -o yaml`)
    .action(async (ref: string, _opts, cmd: Command) => {
      const alloc = await deps.client(cmd).get<AllocationView>(allocPath(ref));
      print(deps.io, deps.format(cmd), { data: alloc, text: () => renderAllocDetail(alloc, deps.now()) });
    });

  allocs
    .command('logs')
    .description("an allocation's output (stdout and stderr, as its host captured them)")
    .argument('<alloc>', 'JOB/NAME (llama/web-0) or an allocation id')
    .option('-f, --follow', 'keep printing new output until the allocation ends (Ctrl-C stops)')
    .option('--tail <n>', 'only the last N lines of what is stored (with -o json or yaml: the last N pieces)', intOption('--tail', 0, 1_000_000))
    .addHelpText(
      'after',
      `
Standard output goes to stdout and standard error to stderr. On a terminal, control sequences
are escaped (colors pass), so output from a host cannot take over your terminal.

Examples:
  gpufleet allocs logs llama/web-0
  gpufleet allocs logs llama/web-0 --tail 100 -f
  gpufleet allocs logs llama/web-0 -o json > web-0.json`,
    )
    .action(async (ref: string, _opts, cmd: Command) => {
      const o = deps.opts<{ follow?: boolean; tail?: number } & ConnectionFlags>(cmd);
      const format = deps.format(cmd);
      const asData = format === 'json' || format === 'yaml';
      if (asData && o.follow) throw new UsageError('--follow prints output as it comes; it does not go with -o json or yaml');
      const path = allocPath(ref);
      const client = deps.client(cmd);
      const alloc = await client.get<AllocationView>(path);
      const items = await readAllocLogs(client, alloc.id);
      if (asData) {
        deps.io.out(renderData({ items: o.tail === undefined ? items : items.slice(items.length - Math.min(o.tail, items.length)) }, format));
        return;
      }
      const lines = lastLines(items, o.tail ?? Number.POSITIVE_INFINITY);
      for (const line of lines) writeOutput(deps.io, line.stream, line.text);
      if (!o.follow) {
        if (items.length === 0) deps.io.err(`no output from ${alloc.job}/${alloc.name} (${alloc.status})\n`);
        return;
      }
      if (FINAL_ALLOC_STATUSES.has(alloc.status)) {
        deps.io.err(`${alloc.job}/${alloc.name} has ended (${alloc.status}); nothing more will come\n`);
        return;
      }
      const conn = resolveConnection({ server: o.server, token: o.token, context: o.context }, deps.io);
      const following = followAllocLogs(conn, deps.io, alloc.id, items.at(-1)?.id ?? 0);
      const stop = deps.io.onInterrupt(() => following.detach());
      try {
        const end = await following.result;
        if (end === 'ended') deps.io.err(`${alloc.job}/${alloc.name} ended\n`);
      } finally {
        stop();
      }
    });

  return allocs;
}

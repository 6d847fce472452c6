import { Command } from 'commander';
import { normalizePciBusId, type FleetGpuRow, type NodeView } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { seg } from '../api-client.js';
import { checkSelector } from '../args.js';
import { print, termSafe, type Column } from '../output.js';
import { gpuColumns } from '../views/node-detail.js';
import { parseNodeGpu } from './health.js';

/** GPUs asked for per request by `gpus ls` (the server's largest page). */
export const GPU_PAGE = 10_000;

/** A GPU row as a server with workloads sends it: which allocation holds the GPU (null: free). */
export type GpuRowWithAllocation = FleetGpuRow & { allocation?: { id: string; job: string; name: string } | null };

/** The ALLOC cell: `llama/web-0`, or `-` for a free GPU. */
export function allocCell(r: GpuRowWithAllocation): string {
  return r.allocation ? `${r.allocation.job}/${r.allocation.name}` : '-';
}

/**
 * Columns of `gpus ls`: the node, then the GPU columns, then health, then the allocation holding
 * the GPU. ALLOC is shown when the server reports allocations (`allocation` on its rows); a
 * server from before workloads has none to show.
 */
export function fleetGpuColumns(opts: { allocations?: boolean } = {}): Column<GpuRowWithAllocation>[] {
  const gpu = gpuColumns<GpuRowWithAllocation>((r) => r.gpu);
  return [
    { header: 'NODE', get: (r) => r.hostname },
    ...gpu.filter((c) => !c.wide),
    // A GPU that takes no new work says so beside its verdict: "unhealthy, UNHEALTHY", "healthy, CORDONED".
    { header: 'HEALTH', get: (r) => (r.gpu.state && r.gpu.state !== 'READY' ? `${r.health}, ${r.gpu.state}` : r.health) },
    ...(opts.allocations ? [{ header: 'ALLOC', get: allocCell }] : []),
    { header: 'NODE STATUS', get: (r) => r.nodeStatus, wide: true },
    { header: 'CAUSE', get: (r) => r.gpu.health?.cause ?? '-', wide: true },
    ...gpu.filter((c) => c.wide),
  ];
}

export function gpusCommand(deps: CliDeps): Command {
  const gpus = new Command('gpus').alias('gpu').description('list every GPU in the fleet; cordon or uncordon one');
  gpus.addHelpText(
    'after',
    `
Examples:
  gpufleet gpus ls -l gpu.model=H100
  gpufleet gpus ls -o wide
  gpufleet gpus cordon gpu-node-07/3 --reason "ECC errors"`,
  );
  gpus
    .command('ls')
    .alias('list')
    .description('list GPUs with their node, memory, utilization, temperature, power and health')
    .option('-l, --selector <selector>', "label selector on the GPUs' nodes, e.g. gpu.model=H100")
    .addHelpText(
      'after',
      `
Examples:
  gpufleet gpus ls                              every GPU, one line each
  gpufleet gpus ls -l gpu.model=H100            only hosts with H100s
  gpufleet gpus ls -l region=eu -o wide         with UUID, PCI bus id, driver, ECC and MIG mode
  gpufleet gpus ls -o json | jq '.items[] | select(.health != "healthy")'`,
    )
    .action(async (_opts, cmd: Command) => {
      const { selector } = deps.opts<{ selector?: string }>(cmd);
      const client = deps.client(cmd);
      // In pages: the server answers at most 10,000 GPUs without a limit (800,000 at 100,000 nodes
      // do not fit one response), and the pages of one query keep one order.
      const items: GpuRowWithAllocation[] = [];
      for (let offset = 0, total = 1; offset < total; offset += GPU_PAGE) {
        const page = await client.get<{ items: GpuRowWithAllocation[]; total?: number }>('/api/v1/gpus', {
          selector: checkSelector(selector),
          limit: String(GPU_PAGE),
          offset: String(offset),
        });
        items.push(...page.items);
        total = page.total ?? 0;
        if (page.items.length === 0) break;
      }
      const result = { items, total: items.length };
      const allocations = result.items.some((r) => r.allocation !== undefined);
      print(deps.io, deps.format(cmd), { data: result, columns: fleetGpuColumns({ allocations }), rows: result.items, empty: 'no GPUs match' });
    });
  for (const op of ['cordon', 'uncordon'] as const) {
    gpus
      .command(op)
      .description(op === 'cordon' ? "stop placing new work on one GPU (the node's other GPUs stay usable)" : 'allow new work on a cordoned GPU again')
      .argument('<target>', 'NODE/GPU: node id, prefix or hostname / GPU index, UUID or PCI bus id')
      .option('--reason <text>', 'why, kept with the GPU and in the timeline')
      .addHelpText(
        'after',
        `
Examples:
  gpufleet gpus ${op} gpu-node-07/3${op === 'cordon' ? ' --reason "XID 48"' : ''}
  gpufleet gpus ${op} gpu-node-07/GPU-8f2a1c3e
  gpufleet gpus ${op} gpu-node-07/0000:17:00.0`,
      )
      .action(async (target: string, _opts, cmd: Command) => {
        const { reason } = deps.opts<{ reason?: string }>(cmd);
        const { node: ref, gpu } = parseNodeGpu(target);
        const node = await deps.client(cmd).post<NodeView>(`/api/v1/nodes/${seg(ref)}/gpus/${seg(gpu!)}/${op}`, reason === undefined ? {} : { reason });
        const format = deps.format(cmd);
        if (format === 'json' || format === 'yaml') return print(deps.io, format, { data: node });
        const g =
          node.gpus.find(
            (x) => String(x.index) === gpu || x.uuid === gpu || (x.pciBusId !== null && normalizePciBusId(x.pciBusId) === normalizePciBusId(gpu)),
          ) ?? null;
        deps.io.out(`GPU ${g ? g.index : gpu} of node ${termSafe(node.hostname)} ${op === 'cordon' ? 'cordoned' : `uncordoned: ${g?.state ?? 'READY'}`}\n`);
      });
  }
  return gpus;
}

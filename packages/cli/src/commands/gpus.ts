import { Command } from 'commander';
import type { FleetGpuRow } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { checkSelector } from '../args.js';
import { print, type Column } from '../output.js';
import { gpuColumns } from '../views/node-detail.js';

/** Columns of `gpus ls`: the node, then the GPU columns, then health. */
export function fleetGpuColumns(): Column<FleetGpuRow>[] {
  const gpu = gpuColumns<FleetGpuRow>((r) => r.gpu);
  return [
    { header: 'NODE', get: (r) => r.hostname },
    ...gpu.filter((c) => !c.wide),
    { header: 'HEALTH', get: (r) => r.health },
    { header: 'NODE STATUS', get: (r) => r.nodeStatus, wide: true },
    ...gpu.filter((c) => c.wide),
  ];
}

export function gpusCommand(deps: CliDeps): Command {
  const gpus = new Command('gpus').alias('gpu').description('list every GPU in the fleet');
  gpus.addHelpText('after', `
Examples:
  gpufleet gpus ls -l gpu.model=H100
  gpufleet gpus ls -o wide`);
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
      const result = await deps.client(cmd).get<{ items: FleetGpuRow[] }>('/api/v1/gpus', { selector: checkSelector(selector) });
      print(deps.io, deps.format(cmd), { data: result, columns: fleetGpuColumns(), rows: result.items, empty: 'no GPUs match' });
    });
  return gpus;
}

import { Command } from 'commander';
import type { NodeView } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { seg } from '../api-client.js';
import { UsageError } from '../errors.js';
import { print, termSafe, type Column } from '../output.js';

/**
 * `NODE/GPU` as people type it: a node reference, a slash, and the GPU's index, UUID or PCI bus
 * id (`gpu-node-07/3`, `gpu-node-07/GPU-8f2a...`, `z6Mkh/0000:17:00.0`). Neither part holds a
 * slash, so the first one splits them. `gpuOptional` accepts a bare NODE.
 */
export function parseNodeGpu(text: string, gpuOptional = false): { node: string; gpu: string | null } {
  const slash = text.indexOf('/');
  if (slash < 0) {
    if (gpuOptional && text.trim() !== '') return { node: text.trim(), gpu: null };
    throw new UsageError(`'${text}' is not NODE/GPU (for example gpu-node-07/3 or gpu-node-07/GPU-8f2a...)`);
  }
  const node = text.slice(0, slash).trim();
  const gpu = text.slice(slash + 1).trim();
  if (node === '' || gpu === '' || gpu.includes('/'))
    throw new UsageError(`'${text}' is not NODE/GPU: give a node, a slash and one GPU (index, UUID or PCI bus id)`);
  return { node, gpu };
}

interface PolicyRule {
  name: string;
  description: string;
  match: Record<string, unknown>;
  window?: string;
  count?: number;
  for?: string;
  verdict: string;
  scope: string;
  actions: string[];
  recover: string | Record<string, unknown>;
}

function matchText(r: PolicyRule): string {
  const { kind, ...rest } = r.match;
  const parts = Object.entries(rest).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`);
  return [String(kind), ...parts].join(' ');
}

function whenText(r: PolicyRule): string {
  if (r.count !== undefined) return `${r.count} in ${r.window}`;
  if (r.for !== undefined) return `for ${r.for}`;
  return 'each';
}

function recoverText(r: PolicyRule['recover']): string {
  if (typeof r === 'string') return r;
  return Object.entries(r)
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');
}

export function policyColumns(): Column<PolicyRule>[] {
  return [
    { header: 'RULE', get: (r) => r.name },
    { header: 'MATCH', get: matchText },
    { header: 'WHEN', get: whenText },
    { header: 'VERDICT', get: (r) => r.verdict },
    { header: 'SCOPE', get: (r) => r.scope },
    { header: 'ACTIONS', get: (r) => (r.actions.length ? r.actions.join(',') : '-') },
    { header: 'RECOVER', get: (r) => recoverText(r.recover) },
    { header: 'DESCRIPTION', get: (r) => r.description, wide: true },
  ];
}

export function healthCommand(deps: CliDeps): Command {
  const health = new Command('health').description('health verdicts: clear them, show the policy in force');
  health.addHelpText(
    'after',
    `
Examples:
  gpufleet health clear gpu-node-07/3 --reason "GPU reset, burn-in passed"
  gpufleet health clear gpu-node-07 --reason "rebooted"
  gpufleet health policy -o wide`,
  );

  health
    .command('clear')
    .description('clear the health verdicts of a node (and all its GPUs) or of one GPU')
    .argument('<target>', 'NODE or NODE/GPU (GPU: index, UUID or PCI bus id)')
    .requiredOption('--reason <text>', 'why (kept in the timeline and the audit log)')
    .addHelpText(
      'after',
      `
The findings end; an UNHEALTHY GPU or node and any cordon or drain the policy made go back to
READY. A cordon an operator made stays. A condition that still holds is found again.

Examples:
  gpufleet health clear gpu-node-07/3 --reason "GPU replaced"
  gpufleet health clear gpu-node-07 --reason "rebooted after XID 79"`,
    )
    .action(async (target: string, _opts, cmd: Command) => {
      const { reason } = deps.opts<{ reason: string }>(cmd);
      if (reason.trim() === '') throw new UsageError('--reason must say why');
      const { node, gpu } = parseNodeGpu(target, true);
      const result = await deps
        .client(cmd)
        .post<{ cleared: number; node: NodeView }>(`/api/v1/nodes/${seg(node)}/health/clear`, { reason, ...(gpu === null ? {} : { gpu }) });
      const format = deps.format(cmd);
      if (format === 'json' || format === 'yaml') return print(deps.io, format, { data: result });
      const what = gpu === null ? `node ${result.node.hostname}` : `GPU ${gpu} of node ${result.node.hostname}`;
      deps.io.out(
        `${termSafe(what)}: ${result.cleared} finding${result.cleared === 1 ? '' : 's'} cleared; node ${result.node.status}, health ${result.node.health.verdict}\n`,
      );
    });

  health
    .command('policy')
    .description('show the health policy in force (rules, matches, verdicts, actions, recovery)')
    .addHelpText(
      'after',
      `
The policy is a YAML file given to the server (healthPolicy); without one the shipped default
runs. Rules, their comments and the keys they take: packages/server/policy/default-health-policy.yaml.

Examples:
  gpufleet health policy
  gpufleet health policy -o wide            with each rule's description
  gpufleet health policy -o json | jq '.rules[].name'`,
    )
    .action(async (_opts, cmd: Command) => {
      const policy = await deps.client(cmd).get<{ source: string; catalogVersion: string; rules: PolicyRule[] }>('/api/v1/health/policy');
      const format = deps.format(cmd);
      if (format === 'table' || format === 'wide') deps.io.err(`policy: ${policy.source} (XID catalog ${policy.catalogVersion})\n`);
      print(deps.io, format, { data: policy, columns: policyColumns(), rows: policy.rules, empty: 'the policy has no rules' });
    });

  return health;
}

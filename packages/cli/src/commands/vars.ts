import { Command } from 'commander';
import type { ResolvedVarsView, SetVarsRequest, VarScope, VarsView } from '@gpufleet/protocol';
import { seg, type ApiClient } from '../api-client.js';
import type { CliDeps } from '../command-deps.js';
import { UsageError } from '../errors.js';
import { print, renderTable } from '../output.js';
import { renderVars, resolvedColumns, resolvedHeader, resolvedRows } from '../views/group-views.js';
import { collect, parseVarFlags } from './play-flags.js';
import { checkGroupName, checkNodeRefs } from './group-flags.js';

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface ScopeFlags {
  group?: string;
  node?: string;
}

/** --group G, --node N or neither (global), never both. */
function scopeOf(flags: ScopeFlags): { scope: VarScope; target?: string } {
  if (flags.group !== undefined && flags.node !== undefined) throw new UsageError('give --group or --node, not both (neither: the global scope)');
  if (flags.group !== undefined) return { scope: 'group', target: checkGroupName(flags.group) };
  if (flags.node !== undefined) return { scope: 'node', target: checkNodeRefs('--node', [flags.node])![0]! };
  return { scope: 'global' };
}

/** `k=v` pairs kept as text (--string). */
function textVars(pairs: string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`'${pair}' must be NAME=VALUE`);
    const name = pair.slice(0, eq);
    if (!VAR_NAME.test(name) || name.length > 128) throw new UsageError(`'${name}' is not a variable name (a letter or _, then letters, digits or _)`);
    vars[name] = pair.slice(eq + 1);
  }
  return vars;
}

function checkNames(names: string[]): string[] {
  for (const n of names)
    if (!VAR_NAME.test(n) || n.length > 128) throw new UsageError(`'${n}' is not a variable name (a letter or _, then letters, digits or _)`);
  return names;
}

function putVars(client: ApiClient, body: SetVarsRequest): Promise<VarsView> {
  return client.request<VarsView>('PUT', '/api/v1/vars', { body });
}

const scopeOptions = (c: Command): Command =>
  c.option('--group <group>', 'the variables of this group').option('--node <node>', 'the variables of this node (id, id prefix or hostname)');

/** `gpufleet vars set|unset|ls|show`: variables in layers, as plays see them. */
export function varsCommand(deps: CliDeps): Command {
  const vars = new Command('vars').alias('var').description('layered variables for plays: global, per group, per node; see where each value comes from');
  vars.addHelpText(
    'after',
    `
Layers, lowest first; a later layer wins:
  1. global                   gpufleet vars set k=v
  2. groups, by --priority    gpufleet vars set --group G k=v   (low to high; a tie: the name that sorts last wins)
  3. the node                 gpufleet vars set --node N k=v
  4. a play's extra vars      gpufleet plays run ... -e k=v
A value replaces a lower one whole: lists and maps are not merged key by key (Ansible's default,
hash_behaviour=replace). Values are read as YAML scalars and flow collections: 550 is a number,
true a boolean, [a, b] a list, {x: 1} a map; --string keeps them as text.

Examples:
  gpufleet vars set nvidia_driver_version=550 install_cuda=true
  gpufleet vars set --group gpu_nodes nvidia_driver_version=550
  gpufleet vars set --node gpu-07 --string nvidia_driver_version=535
  gpufleet vars unset --node gpu-07 nvidia_driver_version
  gpufleet vars ls --group gpu_nodes
  gpufleet vars show gpu-07 -e install_cuda=false`,
  );

  scopeOptions(
    vars
      .command('set')
      .description('set variables of one layer (global unless --group or --node)')
      .addHelpText(
        'after',
        '\nExamples:\n  gpufleet vars set nvidia_driver_version=535\n  gpufleet vars set --group gpu_nodes nvidia_driver_version=550 install_cuda=false\n  gpufleet vars set --node gpu-07 --string build=0550',
      ),
  )
    .argument('<name=value...>', 'variables to set')
    .option('--string', 'keep every value as text (550 stays "550")', false)
    .action(async (pairs: string[], opts: ScopeFlags & { string: boolean }, cmd: Command) => {
      const scope = scopeOf(opts);
      const set = opts.string ? textVars(pairs) : parseVarFlags('variable', pairs)!;
      const view = await putVars(deps.client(cmd), { ...scope, set });
      print(deps.io, deps.format(cmd), { data: view, text: () => renderVars(view) });
    });

  scopeOptions(
    vars
      .command('unset')
      .alias('rm')
      .description('remove variables from one layer')
      .addHelpText('after', '\nExamples:\n  gpufleet vars unset --node gpu-07 nvidia_driver_version'),
  )
    .argument('<name...>', 'variable names')
    .action(async (names: string[], opts: ScopeFlags, cmd: Command) => {
      const scope = scopeOf(opts);
      const view = await putVars(deps.client(cmd), { ...scope, remove: checkNames(names) });
      print(deps.io, deps.format(cmd), { data: view, text: () => renderVars(view) });
    });

  scopeOptions(
    vars
      .command('ls')
      .alias('list')
      .description("one layer's variables (global unless --group or --node)")
      .addHelpText('after', '\nExamples:\n  gpufleet vars ls\n  gpufleet vars ls --group gpu_nodes -o json'),
  ).action(async (opts: ScopeFlags, cmd: Command) => {
    const scope = scopeOf(opts);
    const view = await deps.client(cmd).get<VarsView>('/api/v1/vars', { scope: scope.scope, target: scope.target });
    print(deps.io, deps.format(cmd), { data: view, text: () => renderVars(view) });
  });

  vars
    .command('show')
    .description("a node's variables merged, each with the layer it came from and the values it overrode")
    .argument('<node>', 'node id, id prefix or hostname')
    .option('-e, --extra-var <k=v>', "a play's extra variable, to see it merged on top (repeatable)", collect)
    .addHelpText('after', '\nExamples:\n  gpufleet vars show gpu-07\n  gpufleet vars show gpu-07 -e install_cuda=false -o yaml')
    .action(async (node: string, opts: { extraVar?: string[] }, cmd: Command) => {
      const ref = checkNodeRefs('node', [node])![0]!;
      const extra = parseVarFlags('-e', opts.extraVar);
      const view = await deps.client(cmd).get<ResolvedVarsView>(`/api/v1/nodes/${seg(ref)}/vars`, extra === undefined ? {} : { extra: JSON.stringify(extra) });
      print(deps.io, deps.format(cmd), {
        data: view,
        text: (wide) => {
          const rows = resolvedRows(view);
          const table =
            rows.length === 0
              ? 'no variables apply (set some: gpufleet vars set k=v)\n'
              : renderTable(resolvedColumns(view), rows, { width: deps.io.columns, wide });
          return resolvedHeader(view) + table;
        },
      });
    });

  return vars;
}

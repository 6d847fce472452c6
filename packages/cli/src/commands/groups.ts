import { Command } from 'commander';
import type { CreateGroupRequest, GroupView, UpdateGroupRequest } from '@gpufleet/protocol';
import { seg } from '../api-client.js';
import type { CliDeps } from '../command-deps.js';
import { UsageError } from '../errors.js';
import { print } from '../output.js';
import { GROUP_COLUMNS, renderGroup } from '../views/group-views.js';
import { collect } from './play-flags.js';
import { checkDescription, checkGroupName, checkNodeRefs, checkPriority, checkSelector } from './group-flags.js';

/** `gpufleet groups create|ls|get|update|rm`: node groups for plays and layered variables. */
export function groupsCommand(deps: CliDeps): Command {
  const groups = new Command('groups').alias('group').description('node groups: static members and/or a label selector, with a priority for their variables');
  groups.addHelpText(
    'after',
    `
A group's members are the nodes listed by hand and the nodes its label selector matches now.
Plays pick groups with -l group=NAME. A group's variables (gpufleet vars set --group) override the
global ones and are overridden by a node's own; between groups the higher --priority wins (a tie:
the name that sorts last). See gpufleet vars --help.

Examples:
  gpufleet groups create gpu_nodes --priority 10 -l gpu.vendor=nvidia
  gpufleet groups create canary --member gpu-07 --member gpu-08 --description "first to get drivers"
  gpufleet groups ls
  gpufleet groups get gpu_nodes
  gpufleet groups update canary --add gpu-09 --remove gpu-07
  gpufleet groups rm canary`,
  );

  groups
    .command('create')
    .description('create a group')
    .addHelpText(
      'after',
      "\nExamples:\n  gpufleet groups create gpu_nodes --priority 10 -l gpu.vendor=nvidia\n  gpufleet groups create canary --member gpu-07 --member gpu-08 --description 'driver canaries'",
    )
    .argument('<name>', 'group name (a letter or _, then letters, digits, _ or -)')
    .option('--priority <n>', 'higher wins when groups set the same variable (-1000..1000, default 0)')
    .option('-l, --selector <selector>', 'members by label selector, e.g. gpu.vendor=nvidia,zone=a')
    .option('--member <node>', 'a member by id, id prefix or hostname (repeatable)', collect)
    .option('--description <text>', 'what the group is for')
    .action(async (name: string, opts: { priority?: string; selector?: string; member?: string[]; description?: string }, cmd: Command) => {
      const priority = checkPriority(opts.priority);
      const description = checkDescription(opts.description);
      const members = checkNodeRefs('--member', opts.member);
      const body: CreateGroupRequest = {
        name: checkGroupName(name),
        priority: priority ?? 0,
        ...(opts.selector === undefined ? {} : { selector: checkSelector(opts.selector) }),
        ...(members === undefined ? {} : { members }),
        ...(description === undefined ? {} : { description }),
      };
      const view = await deps.client(cmd).post<GroupView>('/api/v1/groups', body);
      print(deps.io, deps.format(cmd), { data: view, text: () => `group ${view.name} created with ${view.nodes.length} member(s)\n` });
    });

  groups
    .command('ls')
    .alias('list')
    .description('list groups: priority, selector, how many members and variables')
    .addHelpText('after', "\nExamples:\n  gpufleet groups ls\n  gpufleet groups ls -o wide\n  gpufleet groups ls -o json | jq -r '.items[].name'")
    .action(async (_opts, cmd: Command) => {
      const result = await deps.client(cmd).get<{ items: GroupView[] }>('/api/v1/groups');
      print(deps.io, deps.format(cmd), {
        data: result,
        columns: GROUP_COLUMNS,
        rows: result.items,
        empty: 'no groups yet (create one: gpufleet groups create NAME -l SELECTOR)',
      });
    });

  groups
    .command('get')
    .alias('show')
    .description("a group's settings, members by hostname and variables")
    .addHelpText('after', '\nExamples:\n  gpufleet groups get gpu_nodes\n  gpufleet groups get gpu_nodes -o yaml')
    .argument('<name>', 'group name')
    .action(async (name: string, _opts, cmd: Command) => {
      const view = await deps.client(cmd).get<GroupView>(`/api/v1/groups/${seg(checkGroupName(name))}`);
      print(deps.io, deps.format(cmd), { data: view, text: () => renderGroup(view) });
    });

  groups
    .command('update')
    .description("change a group's priority, selector, description or static members")
    .argument('<name>', 'group name')
    .option('--priority <n>', 'new priority (-1000..1000)')
    .option('-l, --selector <selector>', 'new label selector')
    .option('--no-selector', 'drop the selector (static members only)')
    .option('--add <node>', 'add a static member (repeatable)', collect)
    .option('--remove <node>', 'remove a static member (repeatable)', collect)
    .option('--description <text>', 'new description')
    .addHelpText('after', '\nExamples:\n  gpufleet groups update gpu_nodes --priority 20\n  gpufleet groups update canary --no-selector --add gpu-09')
    .action(
      async (name: string, opts: { priority?: string; selector?: string | false; add?: string[]; remove?: string[]; description?: string }, cmd: Command) => {
        const priority = checkPriority(opts.priority);
        const description = checkDescription(opts.description);
        const add = checkNodeRefs('--add', opts.add);
        const remove = checkNodeRefs('--remove', opts.remove);
        const body: UpdateGroupRequest = {
          ...(priority === undefined ? {} : { priority }),
          ...(opts.selector === undefined ? {} : { selector: opts.selector === false ? null : checkSelector(opts.selector) }),
          ...(add === undefined ? {} : { add }),
          ...(remove === undefined ? {} : { remove }),
          ...(description === undefined ? {} : { description }),
        };
        if (Object.keys(body).length === 0)
          throw new UsageError('nothing to change: give --priority, -l/--selector, --no-selector, --add, --remove or --description');
        const view = await deps.client(cmd).patch<GroupView>(`/api/v1/groups/${seg(checkGroupName(name))}`, body);
        print(deps.io, deps.format(cmd), { data: view, text: () => renderGroup(view) });
      },
    );

  groups
    .command('rm')
    .alias('delete')
    .description('delete a group and its variables (its nodes stay in the fleet)')
    .addHelpText('after', '\nExamples:\n  gpufleet groups rm canary')
    .argument('<name>', 'group name')
    .action(async (name: string, _opts, cmd: Command) => {
      await deps.client(cmd).delete(`/api/v1/groups/${seg(checkGroupName(name))}`);
      deps.io.out(`group ${name} deleted\n`);
    });

  return groups;
}

import { Command, Option } from 'commander';
import { TEMPLATE_CATEGORIES, type AddTemplateRequest, type TemplateDetailView, type TemplateView } from '@gpufleet/protocol';
import { seg } from '../api-client.js';
import type { CliDeps } from '../command-deps.js';
import { print } from '../output.js';
import { renderTemplate, templateColumns } from '../views/play-views.js';
import { checkDuration, checkTemplateName, checkVersion, collect, parseVarFlags, readPlaybook } from './play-flags.js';

/** `gpufleet templates ls|show|add`: the playbooks plays run. */
export function templatesCommand(deps: CliDeps): Command {
  const templates = new Command('templates')
    .alias('template')
    .description('Ansible playbook templates: built-in (facts, checks, GPU drivers, exporters) and your own, by version');
  templates.addHelpText(
    'after',
    `
A template is a playbook with defaults: category, become (root through sudo), a timeout and
default variables. Adding a name that exists makes its next version; plays say which version
they ran. Run one with gpufleet plays run.

Examples:
  gpufleet templates ls
  gpufleet templates show install_nvidia_driver
  gpufleet templates add disk_check --playbook disk.yml --category check --timeout 5m --var min_free_gb=50`,
  );

  templates
    .command('ls')
    .alias('list')
    .description('list templates (the newest version of each)')
    .addHelpText('after', "\nExamples:\n  gpufleet templates ls\n  gpufleet templates ls -o wide\n  gpufleet templates ls -o json | jq -r '.items[].name'")
    .action(async (_opts, cmd: Command) => {
      const result = await deps.client(cmd).get<{ items: TemplateView[] }>('/api/v1/templates');
      print(deps.io, deps.format(cmd), { data: result, columns: templateColumns(deps.now()), rows: result.items, empty: 'no templates yet' });
    });

  templates
    .command('show')
    .alias('get')
    .description('one template: its settings, default variables and playbook')
    .argument('<name>', 'template name')
    .option('--version <n>', 'a version (default: the newest)')
    .addHelpText('after', '\nExamples:\n  gpufleet templates show collect_facts\n  gpufleet templates show my_check --version 2 -o yaml')
    .action(async (name: string, opts: { version?: string }, cmd: Command) => {
      const version = checkVersion(opts.version);
      const t = await deps.client(cmd).get<TemplateDetailView>(`/api/v1/templates/${seg(checkTemplateName(name))}`, { version });
      print(deps.io, deps.format(cmd), { data: t, text: () => renderTemplate(t, deps.now()) });
    });

  templates
    .command('add')
    .description('add a custom template (or the next version of one) from a playbook file; the server checks the playbook')
    .argument('<name>', 'template name: lower case letters, digits and _')
    .requiredOption('--playbook <file>', 'the playbook (YAML), at most 1 MiB')
    .addOption(new Option('--category <c>', 'what it is for').choices([...TEMPLATE_CATEGORIES]).default('custom'))
    .option('--become', 'run its tasks as root (sudo)', false)
    .option('--timeout <duration>', 'how long a play of it may run (default 30m; at most 24h)')
    .option('--var <k=v>', 'a default variable (repeatable; values read as YAML scalars)', collect)
    .option('--description <text>', 'one line saying what it does')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet templates add disk_check --playbook disk.yml --category check --var min_free_gb=50
  gpufleet templates add tune_gpus --playbook tune.yml --become --timeout 10m --description "persistence mode, clocks"`,
    )
    .action(
      async (
        name: string,
        opts: { playbook: string; category: string; become: boolean; timeout?: string; var?: string[]; description?: string },
        cmd: Command,
      ) => {
        checkTemplateName(name);
        const timeout = checkDuration('--timeout', opts.timeout);
        const vars = parseVarFlags('--var', opts.var);
        const body: AddTemplateRequest = {
          name,
          playbook: readPlaybook(deps.io.cwd, opts.playbook),
          category: opts.category as AddTemplateRequest['category'],
          become: opts.become,
          ...(timeout === undefined ? {} : { timeout }),
          ...(vars === undefined ? {} : { vars }),
          ...(opts.description === undefined ? {} : { description: opts.description }),
        };
        const view = await deps.client(cmd).post<TemplateView>('/api/v1/templates', body);
        print(deps.io, deps.format(cmd), {
          data: view,
          text: () => `template ${view.name} version ${view.version} added (sha256 ${view.sha256.slice(0, 12)})\n`,
        });
      },
    );

  return templates;
}

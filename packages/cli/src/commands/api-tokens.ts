import { Command, Option } from 'commander';
import { ROLES, type ApiTokenView } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { seg } from '../api-client.js';
import { UsageError } from '../errors.js';
import { print, type Column } from '../output.js';
import { relativeTime } from '../units.js';

export function apiTokenColumns(now: number): Column<ApiTokenView>[] {
  return [
    { header: 'ID', get: (t) => t.id },
    { header: 'NAME', get: (t) => t.name },
    { header: 'ROLE', get: (t) => t.role },
    { header: 'CREATED', get: (t) => relativeTime(t.createdAt, now) },
    { header: 'LAST USED', get: (t) => relativeTime(t.lastUsedAt, now) },
    { header: 'REVOKED', get: (t) => (t.revokedAt ? relativeTime(t.revokedAt, now) : '-') },
  ];
}

export function apiTokensCommand(deps: CliDeps): Command {
  const cmdGroup = new Command('api-tokens').description('create, list and revoke API tokens for people and scripts');
  cmdGroup.addHelpText(
    'after',
    `
Roles: admin (everything), operator (labels, cordon, runs), viewer (read only).

Examples:
  gpufleet api-tokens create --name ci-dashboard --role viewer
  gpufleet api-tokens ls
  gpufleet api-tokens revoke tok_81fa2`,
  );

  cmdGroup
    .command('create')
    .description('create an API token (shown once)')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet api-tokens create --name grafana --role viewer
  gpufleet api-tokens create --name oncall-alice --role operator -o json`,
    )
    .requiredOption('--name <name>', 'who or what uses it')
    .addOption(new Option('--role <role>', 'what it may do').choices([...ROLES]).default('viewer'))
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<{ name: string; role: string }>(cmd);
      if (o.name.trim() === '' || o.name.length > 100) throw new UsageError('--name must be 1 to 100 characters');
      const created = await deps.client(cmd).post<ApiTokenView & { token: string }>('/api/v1/api-tokens', { name: o.name, role: o.role });
      print(deps.io, deps.format(cmd), {
        data: created,
        text: () =>
          `API token ${created.id} (${created.name}, ${created.role}) created. It is shown only now:\n\n  ${created.token}\n\nUse it with: gpufleet login --server <url> --token ${created.token}\n`,
      });
    });

  cmdGroup
    .command('ls')
    .alias('list')
    .description('list API tokens')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet api-tokens ls
  gpufleet api-tokens ls -o yaml`,
    )
    .action(async (_opts, cmd: Command) => {
      const result = await deps.client(cmd).get<{ items: ApiTokenView[] }>('/api/v1/api-tokens');
      print(deps.io, deps.format(cmd), { data: result, columns: apiTokenColumns(deps.now()), rows: result.items, empty: 'no API tokens' });
    });

  cmdGroup
    .command('revoke')
    .alias('rm')
    .description('revoke an API token')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet api-tokens revoke 495bb505120382f7      (the ID column of api-tokens ls)`,
    )
    .argument('<id>', 'token id from `api-tokens ls`')
    .action(async (id: string, _opts, cmd: Command) => {
      await deps.client(cmd).delete(`/api/v1/api-tokens/${seg(id)}`);
      deps.io.out(`API token ${id} revoked\n`);
    });

  return cmdGroup;
}

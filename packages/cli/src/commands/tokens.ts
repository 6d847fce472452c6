import { Command } from 'commander';
import { decodeJoinToken, type CreateJoinTokenRequest, type JoinTokenView } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { seg } from '../api-client.js';
import { checkDuration, collect, parseLabelMap } from '../args.js';
import { UsageError } from '../errors.js';
import { print, type Column } from '../output.js';
import { relativeTime } from '../units.js';
import { labelText } from '../views/node-facts.js';
import { parseServerUrlsOption } from './server-urls-option.js';

type CreatedJoinToken = JoinTokenView & { token: string };

/** The command a host runs to join with this token. */
/**
 * The command a host runs to join. It pins the fleet roots the token names (`--root`), so the
 * admin who reads it sees which keys the host will obey, and a host given a token by anyone else
 * refuses other roots. A token this CLI cannot read is printed as is.
 */
export function joinCommand(token: string): string {
  let roots: string[] = [];
  try {
    roots = decodeJoinToken(token).roots;
  } catch {
    // Not ours to judge here: the agent says what is wrong with it.
  }
  return [`gpufleet-agent join ${token}`, ...roots.map((r) => `--root ${r}`)].join(' ');
}

export function joinTokenColumns(now: number): Column<JoinTokenView>[] {
  return [
    { header: 'ID', get: (t) => t.id },
    { header: 'STATE', get: (t) => t.state },
    { header: 'LABELS', get: (t) => labelText(t.labels) },
    { header: 'USES', get: (t) => `${t.uses}${t.reusable ? '' : '/1'}`, align: 'right' },
    { header: 'APPROVAL', get: (t) => (t.needsApproval ? 'needed' : 'auto') },
    { header: 'EXPIRES', get: (t) => (t.expiresAt ? relativeTime(t.expiresAt, now) : 'never') },
    { header: 'DESCRIPTION', get: (t) => t.description || '-' },
    { header: 'CREATED', get: (t) => relativeTime(t.createdAt, now), wide: true },
    { header: 'REVOKED', get: (t) => (t.revokedAt ? relativeTime(t.revokedAt, now) : '-'), wide: true },
  ];
}

export function tokensCommand(deps: CliDeps): Command {
  const tokens = new Command('tokens').alias('join-tokens').description('create, list and revoke join tokens (how hosts join the fleet)');
  tokens.addHelpText(
    'after',
    `
A join token lets a host enroll: it carries the server URL (or every replica's, --server-urls),
the CA fingerprint and a secret.
Single-use by default; the secret is shown once.

Examples:
  gpufleet tokens create --labels region=eu,rack=r12 --expires 24h
  gpufleet tokens create --reusable --needs-approval --description "lab hosts"
  gpufleet tokens ls
  gpufleet tokens revoke jt_3kTq9`,
  );

  tokens
    .command('create')
    .description('create a join token and print the command a host runs to join')
    .option('--labels <k=v,...>', 'labels every node joining with it gets, comma separated')
    .option('--label <k=v>', 'one label (repeatable)', collect, [])
    .option('--reusable', 'allow many hosts to join with it (default: once)')
    .option('--expires <duration>', 'valid for this long, e.g. 1h, 24h, 7d (default: never)')
    .option('--needs-approval', 'joined nodes wait as PENDING until `gpufleet nodes approve`')
    .option('--description <text>', 'a note for `tokens ls`')
    .option('--server-urls <url,...>', 'every control-plane replica hosts may dial, tried first to last (default: the server URL)')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet tokens create --labels region=eu --reusable --expires 24h
  gpufleet tokens create --label team=vision --label tier=spot
  gpufleet tokens create --server-urls https://cp-a:7420,https://cp-b:7420   (hosts fail over between replicas)
  TOKEN=$(gpufleet tokens create -o json | jq -r .token)`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<{
        labels?: string;
        label: string[];
        reusable?: boolean;
        expires?: string;
        needsApproval?: boolean;
        description?: string;
        serverUrls?: string;
      }>(cmd);
      const labels = parseLabelMap([...(o.labels ? [o.labels] : []), ...o.label]);
      if (o.description !== undefined && o.description.length > 200) throw new UsageError('--description is longer than 200 characters');
      const req: CreateJoinTokenRequest = {
        ...(Object.keys(labels).length ? { labels } : {}),
        ...(o.reusable ? { reusable: true } : {}),
        ...(o.needsApproval ? { needsApproval: true } : {}),
        ...(o.expires !== undefined ? { expiresIn: checkDuration(o.expires, '--expires') } : {}),
        ...(o.description !== undefined ? { description: o.description } : {}),
        ...(o.serverUrls !== undefined ? { serverUrls: parseServerUrlsOption(o.serverUrls) } : {}),
      };
      const created = await deps.client(cmd).post<CreatedJoinToken>('/api/v1/join-tokens', req);
      print(deps.io, deps.format(cmd), {
        data: { ...created, joinCommand: joinCommand(created.token) },
        text: () =>
          `Join token ${created.id} created (${created.reusable ? 'reusable' : 'single use'}, ` +
          `${created.expiresAt ? `expires ${relativeTime(created.expiresAt, deps.now())}` : 'never expires'}` +
          `${created.needsApproval ? ', nodes need approval' : ''}). It is shown only now:\n\n` +
          `  ${created.token}\n\nOn each host to join, run:\n\n  ${joinCommand(created.token)}\n\n` +
          `(or \`gpufleet agent join <token>\` where the gpufleet CLI is installed)\n`,
      });
    });

  tokens
    .command('ls')
    .alias('list')
    .description('list join tokens (their secrets are never shown again)')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet tokens ls
  gpufleet tokens ls -o wide        (created and revoked times too)`,
    )
    .action(async (_opts, cmd: Command) => {
      const result = await deps.client(cmd).get<{ items: JoinTokenView[] }>('/api/v1/join-tokens');
      print(deps.io, deps.format(cmd), {
        data: result,
        columns: joinTokenColumns(deps.now()),
        rows: result.items,
        empty: 'no join tokens (create one: gpufleet tokens create)',
      });
    });

  tokens
    .command('revoke')
    .alias('rm')
    .description('revoke a join token: hosts can no longer join with it (joined nodes stay)')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet tokens revoke da3ad245372d      (the ID column of tokens ls)`,
    )
    .argument('<id>', 'token id from `tokens ls`')
    .action(async (id: string, _opts, cmd: Command) => {
      await deps.client(cmd).delete(`/api/v1/join-tokens/${seg(id)}`);
      deps.io.out(`join token ${id} revoked\n`);
    });

  return tokens;
}

import { resolve } from 'node:path';
import { Command } from 'commander';
import { parseDurationMs, teamNameProblem, type ReleaseList, type ReleaseTeamList, type ReleaseTeamView } from '@gpufleet/protocol';
import type { TeamChange } from '@gpufleet/server';
import type { ApiClient } from '../api-client.js';
import type { CliDeps } from '../command-deps.js';
import { checkDuration, collect, intOption } from '../args.js';
import { CliError, UsageError } from '../errors.js';
import { print, termSafe, type Column } from '../output.js';

/** The release tools of the server package: loaded when used (they need no server, only its code). */
const tools = () => import('@gpufleet/server');

/** The server's newest root and top-level targets (null before the first publish), as JSON. */
export async function serverTargets(client: ApiClient, keysHint: string): Promise<{ root: unknown; targets: unknown | null; list: ReleaseList }> {
  const list = await client.get<ReleaseList>('/api/v1/releases');
  const { repository } = list;
  if (repository.rootVersion === 0) throw new CliError(`the server has no release root yet: run \`gpufleet releases keys upload --dir ${keysHint}\` first`);
  const json = async (name: string) => JSON.parse((await client.getBytes(`/tuf/metadata/${name}`)).toString('utf8')) as unknown;
  return {
    root: await json(`${repository.rootVersion}.root.json`),
    targets: repository.targetsVersion === 0 ? null : await json(`${repository.targetsVersion}.targets.json`),
    list,
  };
}

function teamArg(name: string): string {
  const problem = teamNameProblem(name);
  if (problem) throw new UsageError(problem);
  return name;
}

export function teamColumns(): Column<ReleaseTeamView>[] {
  return [
    { header: 'NAME', get: (t) => termSafe(t.name) },
    { header: 'PATHS', get: (t) => termSafe(t.paths.join(',')) },
    { header: 'KEYS', get: (t) => t.keyIds.map((k) => k.slice(0, 12)).join(',') },
    { header: 'THRESHOLD', get: (t) => String(t.threshold), align: 'right' },
    { header: 'VERSION', get: (t) => String(t.version), align: 'right' },
    { header: 'RELEASES', get: (t) => String(t.releases), align: 'right' },
    { header: 'EXPIRES', get: (t) => t.expires ?? '-', wide: true },
  ];
}

/** Signs the next top-level targets with `change` using the targets key of `keysDir`, and uploads it. */
async function changeTeams(
  deps: CliDeps,
  cmd: Command,
  keysDir: string,
  change: TeamChange,
  validMs: number,
): Promise<{ teams: ReleaseTeamList; replaced: boolean }> {
  const { readKeyDir, parseMetadata, nextTargetsWithTeams } = await tools();
  const kd = readKeyDir(resolve(deps.io.cwd, keysDir));
  if (!kd.targets) throw new CliError(`${keysDir} holds no targets.pem: changing teams needs the targets key`);
  const client = deps.client(cmd);
  const server = await serverTargets(client, keysDir);
  const root = parseMetadata('root', server.root, 'the server root');
  const { metadata, replaced } = nextTargetsWithTeams({ current: server.targets, root, key: kd.targets.key, change, validMs, now: deps.now() });
  return { teams: await client.post<ReleaseTeamList>('/api/v1/releases/teams', { targets: metadata.toJSON() }), replaced };
}

/** `gpufleet releases teams ...`: teams that sign their own bundles, delegated from the targets key. */
export function releaseTeamsCommand(deps: CliDeps): Command {
  const teams = new Command('teams').description('teams that sign their own bundles: the targets key delegates bundles NAME-* to a team key');
  teams.addHelpText(
    'after',
    `
A team holds its own key (\`releases keys init-team NAME\`) and publishes the bundles named
NAME-* with it (\`releases publish bundle ... --team NAME --team-key NAME.pem\`). Adding or
removing a team re-signs the targets metadata with the targets key, on this machine.

Examples:
  gpufleet releases teams add ml --key ml.pub.json --dir ./release-keys
  gpufleet releases teams ls
  gpufleet releases teams remove ml --dir ./release-keys`,
  );

  teams
    .command('add')
    .description('delegate the bundles NAME-* to the team key(s): re-signs the targets metadata with the targets key here')
    .addHelpText(
      'after',
      `
The team gets the path bundles/NAME-*/* (terminating: no other role answers for those bundles).
Adding a team that exists replaces its keys and threshold (a key rotation). --key takes the
team's public key file, NAME.pub.json from \`releases keys init-team\`; never its .pem.

Examples:
  gpufleet releases teams add ml --key ml.pub.json --dir ./release-keys
  gpufleet releases teams add ml --key alice.pub.json --key bob.pub.json --threshold 2 --dir ./release-keys`,
    )
    .argument('<name>', 'the team: lowercase letters and digits, e.g. ml (it owns the bundles ml-*)')
    .requiredOption('--key <file>', "a team member's public key, NAME.pub.json (repeatable)", collect)
    .requiredOption('--dir <dir>', 'the keys folder holding targets.pem')
    .option('--threshold <k>', 'how many of the team keys must sign', intOption('--threshold', 1, 16), 1)
    .option('--expires <duration>', 'how long the new targets metadata is valid', '365d')
    .action(async (name: string, _o, cmd: Command) => {
      const o = deps.opts<{ key: string[]; dir: string; threshold: number; expires: string }>(cmd);
      const team = teamArg(name);
      const validMs = parseDurationMs(checkDuration(o.expires, '--expires'));
      const { readTeamPublicKey } = await tools();
      const keys = o.key.map((f) => readTeamPublicKey(resolve(deps.io.cwd, f)));
      if (o.threshold > keys.length) throw new UsageError(`--threshold ${o.threshold} is more than the ${keys.length} --key file(s) given`);
      const { teams: list, replaced } = await changeTeams(deps, cmd, o.dir, { add: { team, keys, threshold: o.threshold } }, validMs);
      const view = list.items.find((t) => t.name === team);
      print(deps.io, deps.format(cmd), {
        data: list,
        text: () =>
          `${replaced ? 'changed' : 'added'} team ${team} (targets version ${list.targetsVersion}): bundles ${view?.paths.join(',') ?? '?'}, ${view?.threshold ?? o.threshold} of key(s) ${keys.map((k) => k.keyId.slice(0, 12)).join(', ')}\nNext, on the team's machine: gpufleet releases publish bundle DIR --name ${team}-NAME --version V --team ${team} --team-key ${team}.pem\n`,
      });
    });

  teams
    .command('ls')
    .alias('list')
    .description('list the teams the targets metadata delegates to')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet releases teams ls
  gpufleet releases teams ls -o json`,
    )
    .action(async (_o, cmd: Command) => {
      const list = await deps.client(cmd).get<ReleaseTeamList>('/api/v1/releases/teams');
      print(deps.io, deps.format(cmd), {
        data: list,
        columns: teamColumns(),
        rows: list.items,
        empty: 'no teams (add one with `gpufleet releases teams add`)',
      });
    });

  teams
    .command('remove')
    .alias('rm')
    .description('stop delegating to a team: hosts refuse its bundles from the next metadata they fetch')
    .addHelpText(
      'after',
      `
The team's releases leave \`releases ls\`, and hosts no longer find them. Its metadata stays on
the server (TUF clients refuse a snapshot that forgets a file); adding the team again continues
its versions.

Examples:
  gpufleet releases teams remove ml --dir ./release-keys`,
    )
    .argument('<name>', 'the team')
    .requiredOption('--dir <dir>', 'the keys folder holding targets.pem')
    .option('--expires <duration>', 'how long the new targets metadata is valid', '365d')
    .action(async (name: string, _o, cmd: Command) => {
      const o = deps.opts<{ dir: string; expires: string }>(cmd);
      const team = teamArg(name);
      const validMs = parseDurationMs(checkDuration(o.expires, '--expires'));
      const { teams: list } = await changeTeams(deps, cmd, o.dir, { remove: team }, validMs);
      print(deps.io, deps.format(cmd), { data: list, text: () => `removed team ${team} (targets version ${list.targetsVersion})\n` });
    });

  return teams;
}

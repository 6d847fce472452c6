import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { ReleaseList, ReleaseTeamList } from '@gpufleet/protocol';
import type { NewTarget } from '@gpufleet/server';
import type { CliDeps } from '../command-deps.js';
import { CliError } from '../errors.js';

/**
 * A team's publish (`releases publish bundle DIR ... --team NAME --team-key FILE`): signs the
 * team's next targets metadata with the team key here, checked against the delegation the
 * server's targets metadata holds, and uploads it with the bundle. The targets key is not needed.
 */
export async function publishTeamTarget(deps: CliDeps, cmd: Command, team: string, keyFile: string, target: NewTarget, validMs: number): Promise<ReleaseList> {
  const { readTeamSigningKey, nextTeamTargets } = await import('@gpufleet/server');
  const key = readTeamSigningKey(resolve(deps.io.cwd, keyFile));
  const client = deps.client(cmd);
  const teams = await client.get<ReleaseTeamList>('/api/v1/releases/teams');
  const view = teams.items.find((t) => t.name === team);
  if (!view)
    throw new CliError(
      `there is no team ${team} on the server: whoever holds the targets key adds it (\`gpufleet releases teams add ${team} --key ${team}.pub.json\`)`,
    );
  const json = async (name: string) => JSON.parse((await client.getBytes(`/tuf/metadata/${name}`)).toString('utf8')) as unknown;
  const metadata = nextTeamTargets({
    team,
    topLevel: await json(`${teams.targetsVersion}.targets.json`),
    current: view.version === 0 ? null : await json(`${view.version}.${view.role}.json`),
    storedVersion: view.version,
    key,
    add: target,
    validMs,
    now: deps.now(),
  });
  return client.post<ReleaseList>(`/api/v1/releases/teams/${team}/publish`, {
    metadata: metadata.toJSON(),
    files: [{ path: target.path, data: Buffer.from(target.bytes).toString('base64') }],
  });
}

import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import {
  AGENT_RELEASE_NAME,
  agentTargetPath,
  BUNDLE_NAME,
  bundleTargetPath,
  parseDurationMs,
  parseReleaseRef,
  RELEASE_VERSION,
  releaseRefText,
  teamNameProblem,
  type ReleaseList,
  type ReleaseView,
} from '@gpufleet/protocol';
import type { NewTarget } from '@gpufleet/server';
import type { CliDeps } from '../command-deps.js';
import { checkDuration } from '../args.js';
import { CliError, UsageError } from '../errors.js';
import { print, termSafe, type Column } from '../output.js';
import { formatBytes, relativeTime } from '../units.js';
import { packBundleFolder } from './release-bundle-pack.js';
import { exportRelease } from './release-export.js';
import { releaseKeysCommand } from './release-keys.js';
import { publishTeamTarget } from './release-team-publish.js';
import { releaseTeamsCommand, serverTargets } from './release-teams.js';

/** Base64 of this many bytes stays under the server's 256 MiB publish body. */
const MAX_PUBLISH_BYTES = 190 * 1024 * 1024;

export function releaseColumns(now: number): Column<ReleaseView>[] {
  return [
    { header: 'KIND', get: (r) => r.kind },
    { header: 'NAME', get: (r) => termSafe(r.name) },
    { header: 'VERSION', get: (r) => termSafe(r.version) },
    { header: 'SHA256', get: (r) => r.sha256.slice(0, 12) },
    { header: 'SIZE', get: (r) => formatBytes(r.length), align: 'right' },
    { header: 'PUBLISHED', get: (r) => relativeTime(r.publishedAt, now) },
    { header: 'SIGNED BY', get: (r) => termSafe(r.signedBy) },
    { header: 'PATH', get: (r) => termSafe(r.path), wide: true },
  ];
}

/** The bytes of an agent release file. */
function readRelease(cwd: string, file: string): Buffer {
  const path = resolve(cwd, file);
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (size > MAX_PUBLISH_BYTES) throw new CliError(`${file} is ${formatBytes(size)}; a publish carries at most ${formatBytes(MAX_PUBLISH_BYTES)}`);
  return readFileSync(path);
}

/**
 * Signs the server's current targets plus `target` with the targets key of `keysDir` here, and
 * uploads both: the same path for agents and bundles, so both are authorized by the targets role.
 */
async function publishTarget(deps: CliDeps, cmd: Command, keysDir: string, target: NewTarget, validMs: number): Promise<ReleaseList> {
  const { readKeyDir, parseMetadata, nextTargets } = await import('@gpufleet/server');
  const kd = readKeyDir(resolve(deps.io.cwd, keysDir));
  if (!kd.targets) throw new CliError(`${keysDir} holds no targets.pem: publishing needs the targets key`);
  const client = deps.client(cmd);
  const server = await serverTargets(client, keysDir);
  const root = parseMetadata('root', server.root, 'the server root');
  const signed = nextTargets({ current: server.targets, root, key: kd.targets.key, add: target, validMs, now: deps.now() });
  return client.post<ReleaseList>('/api/v1/releases/publish', {
    targets: signed.toJSON(),
    files: [{ path: target.path, data: Buffer.from(target.bytes).toString('base64') }],
  });
}

/** Exactly one signer: the targets key (--keys), or a team (--team and --team-key) for a bundle. */
function checkSigner(kind: string, o: { keys?: string; team?: string; teamKey?: string }): void {
  const team = o.team !== undefined || o.teamKey !== undefined;
  if (team && kind === 'agent') throw new UsageError('--team is for bundles: an agent build is signed by the targets key (--keys)');
  if (team && o.keys !== undefined) throw new UsageError('give --keys (the targets key) or --team with --team-key, not both');
  if (team && (o.team === undefined || o.teamKey === undefined)) throw new UsageError('a team publish needs both --team NAME and --team-key NAME.pem');
  if (o.team !== undefined) {
    const problem = teamNameProblem(o.team);
    if (problem) throw new UsageError(`--team ${problem}`);
  }
  if (!team && o.keys === undefined) throw new UsageError("give --keys DIR (the targets key), or for a team's bundle --team NAME --team-key NAME.pem");
}

/** `gpufleet releases`: signed releases served by the control plane's TUF repository (issue 14). */
export function releasesCommand(deps: CliDeps): Command {
  const releases = new Command('releases').description('signed releases of the agent and of host bundles: keys, publish, list, export for offline hosts');
  releases.addHelpText(
    'after',
    `
Releases are a TUF repository: the root and targets keys stay on your machine, the server signs
snapshots and timestamps, and every host verifies what it installs against the root it trusts.

Examples:
  gpufleet releases keys init --dir ./release-keys
  gpufleet releases keys upload --dir ./release-keys
  gpufleet releases publish agent ./gpufleet-agent-0.3.0.tgz --version 0.3.0 --keys ./release-keys
  gpufleet releases publish bundle ./inference-stack/ --name inference --version 12 --keys ./release-keys
  gpufleet releases teams add ml --key ml.pub.json --dir ./release-keys
  gpufleet releases publish bundle ./ml-serving/ --name ml-serving --version 3 --team ml --team-key ml.pem
  gpufleet releases ls
  gpufleet releases export agent@0.3.0 --out offline.tar`,
  );
  releases.addCommand(releaseKeysCommand(deps));
  releases.addCommand(releaseTeamsCommand(deps));

  releases
    .command('ls')
    .alias('list')
    .description('list published releases, newest first')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet releases ls
  gpufleet releases ls -o wide
  gpufleet releases ls -o json`,
    )
    .action(async (_o, cmd: Command) => {
      const list = await deps.client(cmd).get<ReleaseList>('/api/v1/releases');
      print(deps.io, deps.format(cmd), { data: list, columns: releaseColumns(deps.now()), rows: list.items, empty: 'no releases published' });
    });

  releases
    .command('publish')
    .description('sign the next targets metadata with the targets key here, and upload it with the release')
    .addHelpText(
      'after',
      `
The targets key signs on this machine; the server checks it against its root, stores the file
and signs the snapshot and timestamp. A published version never changes: publish a new one.

An agent release is the agent's .tgz. A bundle is a folder: bundle.yaml (containers pinned by
digest, files, units, hooks) and the files under files/ and units/ it names; bundle.yaml's name
and version must be those of --name and --version. Only bundle.yaml and the files it names are
packed, into the same bytes every time.

A team's bundle (named TEAM-..., see \`releases teams\`) is signed with the team's key instead:
--team TEAM --team-key TEAM.pem; the server checks it against the team's delegation.

Examples:
  gpufleet releases publish agent ./gpufleet-agent-0.3.0.tgz --version 0.3.0 --keys ./release-keys
  gpufleet releases publish agent ./agent.tgz --version 0.3.1-rc.1 --keys /media/usb/keys --expires 90d
  gpufleet releases publish bundle ./inference-stack/ --name inference --version 12 --keys ./release-keys
  gpufleet releases publish bundle ./ml-serving/ --name ml-serving --version 3 --team ml --team-key ./ml.pem`,
    )
    .argument('<kind>', 'what it is: agent or bundle')
    .argument('<path>', 'the agent release file, or the bundle folder')
    .requiredOption('--version <version>', 'its version, e.g. 0.3.0 or 12')
    .option('--name <name>', "the bundle's name (bundles only), e.g. inference")
    .option('--keys <dir>', 'the keys folder holding targets.pem')
    .option('--team <name>', "a team's bundle: the team that signs it (its bundles are named TEAM-...)")
    .option('--team-key <file>', "the team's private key, TEAM.pem from `releases keys init-team`")
    .option('--expires <duration>', 'how long the new targets metadata is valid', '365d')
    .action(async (kind: string, path: string, _o, cmd: Command) => {
      const o = deps.opts<{ version: string; name?: string; keys?: string; team?: string; teamKey?: string; expires: string }>(cmd);
      if (kind !== 'agent' && kind !== 'bundle') throw new UsageError(`'${kind}' is not a release kind: publish agent FILE or bundle FOLDER`);
      checkSigner(kind, o);
      if (!RELEASE_VERSION.test(o.version)) throw new UsageError(`--version '${o.version}' must be letters, digits and . + _ - (e.g. 0.3.0)`);
      const validMs = parseDurationMs(checkDuration(o.expires, '--expires'));
      let target: NewTarget;
      if (kind === 'agent') {
        if (o.name !== undefined) throw new UsageError('--name is for bundles: every agent release is named gpufleet-agent');
        target = {
          path: agentTargetPath(o.version),
          bytes: readRelease(deps.io.cwd, path),
          custom: { kind: 'agent', name: AGENT_RELEASE_NAME, version: o.version },
        };
      } else {
        if (o.name === undefined) throw new UsageError('a bundle needs --name: the name in its bundle.yaml, e.g. --name inference');
        if (!BUNDLE_NAME.test(o.name))
          throw new UsageError(`--name '${o.name}' must be lowercase letters, digits and -, starting with a letter (e.g. inference)`);
        const { tar } = packBundleFolder(resolve(deps.io.cwd, path), path, { name: o.name, version: o.version });
        if (tar.length > MAX_PUBLISH_BYTES)
          throw new CliError(`${path} packs to ${formatBytes(tar.length)}; a publish carries at most ${formatBytes(MAX_PUBLISH_BYTES)}`);
        target = { path: bundleTargetPath(o.name, o.version), bytes: tar, custom: { kind: 'bundle', name: o.name, version: o.version } };
      }
      const list =
        o.team !== undefined && o.teamKey !== undefined
          ? await publishTeamTarget(deps, cmd, o.team, o.teamKey, target, validMs)
          : await publishTarget(deps, cmd, o.keys!, target, validMs);
      const item = list.items.find((i) => i.path === target.path);
      const what = kind === 'agent' ? `agent ${o.version}` : `bundle ${o.name}@${o.version}`;
      print(deps.io, deps.format(cmd), {
        data: list,
        text: () =>
          `published ${what} (${o.team === undefined ? `targets version ${list.repository.targetsVersion}` : `signed by team ${o.team}`}): ${target.path}, ${formatBytes(target.bytes.length)}, sha256 ${item?.sha256 ?? '?'}\n`,
      });
    });

  releases
    .command('export')
    .description('write one release with the signed metadata a host needs into a tar, for hosts with no route to the server')
    .addHelpText(
      'after',
      `
On the host: gpufleet-agent sideload offline.tar (--root 1.root.json the first time). The host
verifies it as online, so it must be sideloaded before its timestamp expires (about a day after
export by default). -o stays the output format, as everywhere: the file is --out.

Examples:
  gpufleet releases export agent@0.3.0 --out offline.tar
  gpufleet releases export inference@12 --out inference-12.tar`,
    )
    .argument('<release>', 'agent@VERSION or BUNDLE@VERSION, e.g. agent@0.3.0 or inference@12')
    .requiredOption('--out <file>', 'the tar to write')
    .action(async (refText: string, _o, cmd: Command) => {
      const o = deps.opts<{ out: string }>(cmd);
      const ref = parseReleaseRef(refText);
      if (!ref) throw new UsageError(`'${refText}' is not a release: write agent@VERSION or BUNDLE@VERSION, e.g. agent@0.3.0 or inference@12`);
      const out = resolve(deps.io.cwd, o.out);
      const r = await exportRelease(deps.client(cmd), ref, out);
      print(deps.io, deps.format(cmd), {
        data: { file: out, bytes: r.bytes, targetPath: r.targetPath, timestampExpires: r.timestampExpires },
        text: () =>
          `wrote ${o.out} (${formatBytes(r.bytes)}): ${ref.kind === 'agent' ? `agent ${ref.version}` : `bundle ${releaseRefText(ref)}`}, ${r.targetPath}; sideload it before ${r.timestampExpires}\n`,
      });
    });

  return releases;
}

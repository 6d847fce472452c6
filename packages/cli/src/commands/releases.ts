import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { agentTargetPath, parseDurationMs, parseReleaseRef, RELEASE_VERSION, type ReleaseList, type ReleaseView } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { checkDuration } from '../args.js';
import { CliError, UsageError } from '../errors.js';
import { print, termSafe, type Column } from '../output.js';
import { formatBytes, relativeTime } from '../units.js';
import { exportRelease } from './release-export.js';
import { releaseKeysCommand } from './release-keys.js';

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
    { header: 'PATH', get: (r) => termSafe(r.path), wide: true },
  ];
}

/** `gpufleet releases`: signed releases served by the control plane's TUF repository (issue 14). */
export function releasesCommand(deps: CliDeps): Command {
  const releases = new Command('releases').description('signed releases of the agent: keys, publish, list, export for offline hosts');
  releases.addHelpText(
    'after',
    `
Releases are a TUF repository: the root and targets keys stay on your machine, the server signs
snapshots and timestamps, and every host verifies what it installs against the root it trusts.

Examples:
  gpufleet releases keys init --dir ./release-keys
  gpufleet releases keys upload --dir ./release-keys
  gpufleet releases publish agent ./gpufleet-agent-0.3.0.tgz --version 0.3.0 --keys ./release-keys
  gpufleet releases ls
  gpufleet releases export agent@0.3.0 --out offline.tar`,
  );
  releases.addCommand(releaseKeysCommand(deps));

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
    .description('sign the next targets metadata with the targets key here, and upload it with the file')
    .addHelpText(
      'after',
      `
The targets key signs on this machine; the server checks it against its root, stores the file
and signs the snapshot and timestamp. A published version never changes: publish a new one.

Examples:
  gpufleet releases publish agent ./gpufleet-agent-0.3.0.tgz --version 0.3.0 --keys ./release-keys
  gpufleet releases publish agent ./agent.tgz --version 0.3.1-rc.1 --keys /media/usb/keys --expires 90d`,
    )
    .argument('<kind>', 'what it is: agent (bundles come later)')
    .argument('<file>', 'the release file')
    .requiredOption('--version <version>', 'its version, e.g. 0.3.0')
    .requiredOption('--keys <dir>', 'the keys folder holding targets.pem')
    .option('--expires <duration>', 'how long the new targets metadata is valid', '365d')
    .action(async (kind: string, file: string, _o, cmd: Command) => {
      const o = deps.opts<{ version: string; keys: string; expires: string }>(cmd);
      if (kind !== 'agent') throw new UsageError(`only agent releases can be published yet, not '${kind}'`);
      if (!RELEASE_VERSION.test(o.version)) throw new UsageError(`--version '${o.version}' must be letters, digits and . + _ - (e.g. 0.3.0)`);
      const validMs = parseDurationMs(checkDuration(o.expires, '--expires'));
      const path = resolve(deps.io.cwd, file);
      let size: number;
      try {
        size = statSync(path).size;
      } catch (err) {
        throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      if (size > MAX_PUBLISH_BYTES) throw new CliError(`${file} is ${formatBytes(size)}; a publish carries at most ${formatBytes(MAX_PUBLISH_BYTES)}`);
      const bytes = readFileSync(path);
      const { readKeyDir, parseMetadata, nextTargets } = await import('@gpufleet/server');
      const kd = readKeyDir(resolve(deps.io.cwd, o.keys));
      if (!kd.targets) throw new CliError(`${o.keys} holds no targets.pem: publishing needs the targets key`);
      const client = deps.client(cmd);
      const { repository } = await client.get<ReleaseList>('/api/v1/releases');
      if (repository.rootVersion === 0) throw new CliError(`the server has no release root yet: run \`gpufleet releases keys upload --dir ${o.keys}\` first`);
      const root = parseMetadata(
        'root',
        JSON.parse((await client.getBytes(`/tuf/metadata/${repository.rootVersion}.root.json`)).toString('utf8')),
        'the server root',
      );
      const current =
        repository.targetsVersion === 0
          ? null
          : JSON.parse((await client.getBytes(`/tuf/metadata/${repository.targetsVersion}.targets.json`)).toString('utf8'));
      const targetPath = agentTargetPath(o.version);
      const signed = nextTargets({
        current,
        root,
        key: kd.targets.key,
        add: { path: targetPath, bytes, custom: { kind: 'agent', name: 'gpufleet-agent', version: o.version } },
        validMs,
        now: deps.now(),
      });
      const list = await client.post<ReleaseList>('/api/v1/releases/publish', {
        targets: signed.toJSON(),
        files: [{ path: targetPath, data: bytes.toString('base64') }],
      });
      const item = list.items.find((i) => i.path === targetPath);
      print(deps.io, deps.format(cmd), {
        data: list,
        text: () =>
          `published agent ${o.version} (targets version ${list.repository.targetsVersion}): ${targetPath}, ${formatBytes(bytes.length)}, sha256 ${item?.sha256 ?? '?'}\n`,
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
  gpufleet releases export agent@0.3.0 --out offline.tar`,
    )
    .argument('<release>', 'kind@version, e.g. agent@0.3.0')
    .requiredOption('--out <file>', 'the tar to write')
    .action(async (refText: string, _o, cmd: Command) => {
      const o = deps.opts<{ out: string }>(cmd);
      const ref = parseReleaseRef(refText);
      if (!ref) throw new UsageError(`'${refText}' is not a release: write kind@version, e.g. agent@0.3.0`);
      const out = resolve(deps.io.cwd, o.out);
      const r = await exportRelease(deps.client(cmd), ref, out);
      print(deps.io, deps.format(cmd), {
        data: { file: out, bytes: r.bytes, targetPath: r.targetPath, timestampExpires: r.timestampExpires },
        text: () => `wrote ${o.out} (${formatBytes(r.bytes)}): ${ref.kind} ${ref.version}, ${r.targetPath}; sideload it before ${r.timestampExpires}\n`,
      });
    });

  return releases;
}

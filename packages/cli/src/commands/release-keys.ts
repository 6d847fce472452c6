import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { parseDurationMs, teamNameProblem, type ReleaseList, type ReleaseRepositoryView } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { checkDuration, collect, intOption } from '../args.js';
import { CliError, UsageError } from '../errors.js';
import { print } from '../output.js';

/** The release tools of the server package: loaded when used (they need no server, only its code). */
const tools = () => import('@gpufleet/server');

/** `gpufleet releases keys ...`: the TUF keys, made and used on the operator's machine. */
export function releaseKeysCommand(deps: CliDeps): Command {
  const keys = new Command('keys').description('make the release keys, sign new roots (offline), and upload the online keys');
  keys.addHelpText(
    'after',
    `
Roles: root (offline, k of n keys sign each new root), targets (offline, signs every publish),
snapshot and timestamp (online: the server holds them, sealed with GPUFLEET_MASTER_KEY).

Examples:
  gpufleet releases keys init --dir ./release-keys
  gpufleet releases keys upload --dir ./release-keys
  gpufleet releases keys sign-root --dir ./release-keys
  gpufleet releases keys init-team ml --out ./ml-keys`,
  );

  keys
    .command('init')
    .description('make Ed25519 keys for the four roles and sign root version 1 (no server needed)')
    .addHelpText(
      'after',
      `
Writes root-1.pem ... root-N.pem, targets.pem, snapshot.pem, timestamp.pem (mode 0600) and
1.root.json into DIR. Copy 1.root.json to each host (gpufleet-agent sideload --root 1.root.json);
keep the root and targets keys offline.

Examples:
  gpufleet releases keys init --dir ./release-keys
  gpufleet releases keys init --dir /media/usb/keys --root-keys 5 --root-threshold 3 --expires-root 730d`,
    )
    .requiredOption('--dir <dir>', 'folder for the keys (made 0700; refused when it holds keys already)')
    .option('--root-keys <n>', 'root keys to make (1-16)', intOption('--root-keys', 1, 16), 3)
    .option('--root-threshold <k>', 'root keys that must sign a new root', intOption('--root-threshold', 1, 16), 2)
    .option('--expires-root <duration>', 'how long root version 1 is valid', '365d')
    .action(async (_o, cmd: Command) => {
      const o = deps.opts<{ dir: string; rootKeys: number; rootThreshold: number; expiresRoot: string }>(cmd);
      const validMs = parseDurationMs(checkDuration(o.expiresRoot, '--expires-root'));
      const { initKeyDir } = await tools();
      const made = initKeyDir({ dir: resolve(deps.io.cwd, o.dir), rootKeys: o.rootKeys, rootThreshold: o.rootThreshold, validMs, now: deps.now() });
      const r = made.root.signed;
      print(deps.io, deps.format(cmd), {
        data: { dir: resolve(deps.io.cwd, o.dir), rootVersion: r.version, rootFile: made.rootFile, rootExpires: r.expires, keyFiles: made.keyFiles },
        text: () =>
          [
            `release keys made in ${o.dir}: ${o.rootKeys} root keys (${o.rootThreshold} must sign a new root), targets, snapshot, timestamp`,
            ...made.keyFiles.map((f) => `  ${f}  (0600)`),
            `  ${made.rootFile}  root version 1, valid until ${r.expires}`,
            'Copy 1.root.json to each host; keep root-*.pem and targets.pem offline.',
            `Next: gpufleet releases keys upload --dir ${o.dir}   (sends the snapshot and timestamp keys only)`,
            '',
          ].join('\n'),
      });
    });

  keys
    .command('init-team')
    .description("make a team's Ed25519 key pair (no server needed): NAME.pem stays with the team, NAME.pub.json goes to the targets key holder")
    .addHelpText(
      'after',
      `
Writes NAME.pem (PKCS#8, mode 0600, like the keys folder's) and NAME.pub.json (the TUF public
key) into DIR. Whoever holds the targets key delegates the team's bundles to it with
\`releases teams add NAME --key NAME.pub.json\`; the team then publishes with --team-key NAME.pem.

Examples:
  gpufleet releases keys init-team ml --out ./ml-keys
  gpufleet releases keys init-team ml --out /media/usb/ml -o json`,
    )
    .argument('<name>', 'the team: lowercase letters and digits, e.g. ml (it owns the bundles ml-*)')
    .requiredOption('--out <dir>', 'folder for the two files (made 0700; an existing key is never overwritten)')
    .action(async (name: string, _o, cmd: Command) => {
      const o = deps.opts<{ out: string }>(cmd);
      const problem = teamNameProblem(name);
      if (problem) throw new UsageError(problem);
      const { initTeamKey } = await tools();
      const made = initTeamKey({ name, dir: resolve(deps.io.cwd, o.out) });
      print(deps.io, deps.format(cmd), {
        data: { team: name, keyId: made.key.keyId, privateFile: made.privateFile, publicFile: made.publicFile },
        text: () =>
          [
            `team key made for ${name}: key id ${made.key.keyId}`,
            `  ${made.privateFile}  (0600: keep it with the team)`,
            `  ${made.publicFile}  (give it to whoever holds the targets key)`,
            `Next, with the targets key: gpufleet releases teams add ${name} --key ${made.publicFile} --dir KEYS`,
            '',
          ].join('\n'),
      });
    });

  keys
    .command('sign-root')
    .description('sign the next root version from the keys now in DIR, offline')
    .addHelpText(
      'after',
      `
The root-*.pem files in DIR become the new root keys, and targets.pem, snapshot.pem and
timestamp.pem (where present) the other roles' keys. The new root is signed by a threshold of
the current root's keys and of its own: replace one root key file at a time, or pass the old
file of a replaced key with --old-key. A new key: openssl genpkey -algorithm ed25519 -out FILE

Examples:
  gpufleet releases keys sign-root --dir ./release-keys
  gpufleet releases keys sign-root --dir ./release-keys --old-key /media/usb/root-2.old.pem --expires 730d`,
    )
    .requiredOption('--dir <dir>', 'the keys folder')
    .option('--expires <duration>', 'how long the new root is valid', '365d')
    .option('--root-threshold <k>', 'a new threshold for the root role', intOption('--root-threshold', 1, 16))
    .option('--old-key <file>', 'a current root key kept outside DIR (repeatable)', collect, [])
    .action(async (_o, cmd: Command) => {
      const o = deps.opts<{ dir: string; expires: string; rootThreshold?: number; oldKey: string[] }>(cmd);
      const validMs = parseDurationMs(checkDuration(o.expires, '--expires'));
      const { signNextRoot, signingKeyFromPem } = await tools();
      const oldKeys = o.oldKey.map((f) => {
        const file = resolve(deps.io.cwd, f);
        let pem: string;
        try {
          pem = readFileSync(file, 'utf8');
        } catch (err) {
          throw new CliError(`cannot read --old-key ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        return { file, key: signingKeyFromPem(pem, f) };
      });
      const dir = resolve(deps.io.cwd, o.dir);
      const { root, rootFile, changed } = signNextRoot({
        dir,
        validMs,
        now: deps.now(),
        oldKeys,
        ...(o.rootThreshold === undefined ? {} : { rootThreshold: o.rootThreshold }),
      });
      print(deps.io, deps.format(cmd), {
        data: { rootVersion: root.signed.version, rootFile, rootExpires: root.signed.expires, changed },
        text: () =>
          `root version ${root.signed.version} signed: ${rootFile} (changed: ${changed.join(', ') || 'nothing but the expiry'}; valid until ${root.signed.expires})\nNext: gpufleet releases keys upload --dir ${o.dir}\n`,
      });
    });

  keys
    .command('upload')
    .description('send the server the roots it lacks and the snapshot and timestamp keys')
    .addHelpText(
      'after',
      `
Sends every N.root.json of DIR newer than the server's, and snapshot.pem and timestamp.pem
(the server seals them with its master key). Without those two files in DIR only the roots are
sent, which works when the new roots keep the online keys. Root and targets keys never leave DIR.

Examples:
  gpufleet releases keys upload --dir ./release-keys
  gpufleet releases keys upload --dir ./release-keys -o json`,
    )
    .requiredOption('--dir <dir>', 'the keys folder')
    .action(async (_o, cmd: Command) => {
      const o = deps.opts<{ dir: string }>(cmd);
      const { readKeyDir } = await tools();
      const kd = readKeyDir(resolve(deps.io.cwd, o.dir));
      const client = deps.client(cmd);
      const onServer = (await client.get<ReleaseList>('/api/v1/releases')).repository.rootVersion;
      const newer = kd.roots.filter((r) => r.version > onServer);
      newer.forEach((r, i) => {
        if (r.version !== onServer + i + 1) throw new CliError(`${o.dir} has no ${onServer + i + 1}.root.json, which must come before ${r.version}.root.json`);
      });
      const roots = newer.map((r) => JSON.parse(readFileSync(r.file, 'utf8')) as Record<string, unknown>);
      let view: ReleaseRepositoryView;
      if (kd.snapshot && kd.timestamp) {
        view = await client.post<ReleaseRepositoryView>('/api/v1/releases/keys', {
          roots,
          snapshotKey: kd.snapshot.key.privateKeyPem,
          timestampKey: kd.timestamp.key.privateKeyPem,
        });
      } else {
        if (roots.length === 0)
          throw new CliError(`${o.dir} holds no snapshot.pem and timestamp.pem, and no root newer than the server's version ${onServer}: nothing to send`);
        view = (await client.get<ReleaseList>('/api/v1/releases')).repository;
        for (const root of roots) view = await client.post<ReleaseRepositoryView>('/api/v1/releases/root', { root });
      }
      print(deps.io, deps.format(cmd), {
        data: view,
        text: () =>
          `the server now has root version ${view.rootVersion}${newer.length > 0 ? ` (sent ${newer.map((r) => r.version).join(', ')})` : ''}; online keys: ${view.onlineKeys ? 'held' : 'missing'}\n`,
      });
    });

  return keys;
}

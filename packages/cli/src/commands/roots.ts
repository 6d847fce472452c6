import { Command } from 'commander';
import { isDidKey, signRootsUpdate, type RootsUpdate } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { CliError, UsageError } from '../errors.js';
import { unlockOperatorKey, type HiddenInput, type KeyFlags } from '../keys/passphrase.js';
import { print } from '../output.js';

/** GET /api/v1/roots. */
interface RootsReply {
  version: number;
  roots: string[];
  updates: RootsUpdate[];
}

function rootsText(r: RootsReply): string {
  if (!Array.isArray(r?.roots) || r.roots.length === 0) return 'the fleet has no roots yet (set the first: gpufleet roots init --key NAME)\n';
  return `fleet roots, version ${r.version}:\n${r.roots.map((d) => `  ${d}\n`).join('')}`;
}

/** How a host pins these roots when it joins, so a server cannot hand it others. */
function pinHint(r: RootsReply): string {
  if (!Array.isArray(r?.roots) || r.roots.length === 0) return '';
  return `hosts pin them when joining: gpufleet-agent join <token> ${r.roots.map((d) => `--root ${d}`).join(' ')}\n`;
}

/** `gpufleet roots`: the DIDs every host trusts fully. `term` stands in for the terminal in tests. */
export function rootsCommand(deps: CliDeps, term?: HiddenInput): Command {
  const roots = new Command('roots').description('show and change the fleet roots: the operator keys every host trusts fully');
  roots.addHelpText(
    'after',
    `
Join tokens carry the current roots to new hosts; a host joined with \`--root DID\` trusts only
the roots its human named and refuses a token naming others. A change reaches hosts already
enrolled as an update signed by a current root; hosts refuse unsigned or wrongly signed updates.
The server checks the stored root history as a signature chain on every load and refuses to
serve a broken one.

Examples:
  gpufleet keys new --name root
  gpufleet roots init --key root                         the first root (admin token, once)
  gpufleet roots set did:key:z6MkA... did:key:z6MkB... --key root
  gpufleet roots ls -o json`,
  );

  roots
    .command('ls')
    .alias('list')
    .description('show the current roots and their version')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet roots ls
  gpufleet roots ls -o json`,
    )
    .action(async (_opts, cmd: Command) => {
      const r = await deps.client(cmd).get<RootsReply>('/api/v1/roots');
      print(deps.io, deps.format(cmd), { data: r, text: () => rootsText(r) + pinHint(r) });
    });

  roots
    .command('init')
    .description("make your key the fleet's first root (only while the fleet has none; needs an admin token)")
    .option('--key <name>', 'the key to make root (default: default)')
    .option('--passphrase-env <VAR>', 'variable holding the key passphrase (default GPUFLEET_KEY_PASSPHRASE)')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet keys new --name root && gpufleet roots init --key root`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<KeyFlags>(cmd);
      const key = await unlockOperatorKey(deps.io, { key: o.key, passphraseEnv: o.passphraseEnv }, term);
      const r = await deps.client(cmd).post<RootsReply>('/api/v1/roots/init', { did: key.did });
      print(deps.io, deps.format(cmd), {
        data: r,
        text: () => `fleet root set: ${key.did} (version ${r.version})\njoin tokens created from now on carry it to new hosts\n`,
      });
    });

  roots
    .command('set')
    .description('replace the root set with these DIDs, signed with the key of a current root')
    .argument('<did...>', 'the new roots (did:key)')
    .option('--key <name>', 'a current root key to sign with (default: default)')
    .option('--passphrase-env <VAR>', 'variable holding the key passphrase (default GPUFLEET_KEY_PASSPHRASE)')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet roots set $(gpufleet keys did root) did:key:z6MkNewRoot... --key root
  gpufleet roots set did:key:z6MkNewRoot... --key root      hand over: the signer leaves the set`,
    )
    .action(async (dids: string[], _opts, cmd: Command) => {
      const o = deps.opts<KeyFlags>(cmd);
      const bad = dids.find((d) => !isDidKey(d));
      if (bad !== undefined) throw new UsageError(`'${bad}' is not an Ed25519 did:key`);
      const wanted = [...new Set(dids)];
      if (wanted.length > 32) throw new UsageError('at most 32 roots');
      const client = deps.client(cmd);
      const current = await client.get<RootsReply>('/api/v1/roots');
      if (!current?.roots?.length) throw new CliError('the fleet has no roots yet: set the first one with `gpufleet roots init --key NAME`');
      const key = await unlockOperatorKey(deps.io, { key: o.key, passphraseEnv: o.passphraseEnv }, term);
      if (!current.roots.includes(key.did)) {
        throw new CliError(`key '${o.key ?? 'default'}' (${key.did}) is not a current fleet root: hosts only accept a roots update signed by one`);
      }
      const update = signRootsUpdate({ v: 1, version: current.version + 1, roots: wanted, iss: key.did, at: deps.now() }, key.privateKeyPem);
      const r = await client.post<RootsReply>('/api/v1/roots/update', { update });
      if (!wanted.includes(key.did)) deps.io.err(`note: ${key.did} is no longer a root; sign later changes with one of the new roots\n`);
      print(deps.io, deps.format(cmd), {
        data: r,
        text: () => `roots updated to version ${r.version}; connected hosts receive the signed update now\n${rootsText(r)}`,
      });
    });

  return roots;
}

import { Command } from 'commander';
import type { CliDeps } from '../command-deps.js';
import { UsageError } from '../errors.js';
import {
  checkKeyName,
  createOperatorKey,
  DEFAULT_KEY_NAME,
  describeOperatorKey,
  isKeyFilePath,
  keysDir,
  listOperatorKeys,
  type KeyInfo,
} from '../keys/index.js';
import { passphraseFromEnv, promptHidden, type HiddenInput } from '../keys/passphrase.js';
import { print, type Column } from '../output.js';
import { relativeTime } from '../units.js';

function keyColumns(now: number): Column<KeyInfo>[] {
  return [
    { header: 'NAME', get: (k) => k.name },
    { header: 'DID', get: (k) => k.did ?? `(unreadable: see below)` },
    { header: 'ENCRYPTED', get: (k) => (k.problem ? '-' : k.encrypted ? 'yes' : 'no') },
    { header: 'CREATED', get: (k) => (k.createdAt ? relativeTime(k.createdAt, now) : '-') },
    { header: 'FILE', get: (k) => k.path, wide: true },
  ];
}

/** The passphrase `keys new` seals with: from a variable, none, or asked twice on a terminal. */
async function newKeyPassphrase(deps: CliDeps, o: { passphraseEnv?: string; passphrase: boolean }, name: string, term?: HiddenInput): Promise<string | null> {
  if (o.passphraseEnv !== undefined && !o.passphrase) throw new UsageError('give --passphrase-env or --no-passphrase, not both');
  if (o.passphraseEnv !== undefined) return passphraseFromEnv(deps.io, o.passphraseEnv);
  if (!o.passphrase) return null;
  if (!deps.io.stdinIsTty && !term) {
    throw new UsageError('no terminal to ask for a passphrase: give --passphrase-env VAR (the variable holds it) or --no-passphrase');
  }
  const first = await promptHidden(`passphrase for the new key '${name}' (empty for none): `, term);
  if (first === '') return null;
  const second = await promptHidden('the same passphrase again: ', term);
  if (first !== second) throw new UsageError('the two passphrases differ; nothing was written');
  return first;
}

/** `gpufleet keys`: the operator's own signing keys. `term` stands in for the terminal in tests. */
export function keysCommand(deps: CliDeps, term?: HiddenInput): Command {
  const keys = new Command('keys').description("manage this operator's Ed25519 signing keys (commands, scripts and capabilities are signed with them)");
  keys.addHelpText(
    'after',
    `
A key never leaves this machine: the control plane only ever sees its DID and signatures.
Keys live in $XDG_CONFIG_HOME/gpufleet/keys (else ~/.config/gpufleet/keys), mode 0600.

Examples:
  gpufleet keys new                                  asks for a passphrase on a terminal
  GPUFLEET_KEY_PASSPHRASE=... gpufleet keys new --name ci --passphrase-env GPUFLEET_KEY_PASSPHRASE
  gpufleet keys ls
  gpufleet keys did                                  give this DID to a fleet admin`,
  );

  keys
    .command('new')
    .description('make a new Ed25519 key, sealed with a passphrase unless --no-passphrase')
    .option('--name <name>', 'key name', DEFAULT_KEY_NAME)
    .option('--passphrase-env <VAR>', 'read the passphrase from this environment variable')
    .option('--no-passphrase', 'store the key unencrypted (protected by its file mode only)')
    .option('--force', 'replace an existing key of that name (the old key is lost)')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet keys new
  gpufleet keys new --name laptop --no-passphrase
  PASS=... gpufleet keys new --name ops --passphrase-env PASS
  gpufleet keys new -o json`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<{ name: string; passphraseEnv?: string; passphrase: boolean; force?: boolean }>(cmd);
      const name = checkKeyName(o.name);
      const passphrase = await newKeyPassphrase(deps, o, name, term);
      const key = createOperatorKey(name, { env: deps.io.env, home: deps.io.home, passphrase, force: Boolean(o.force), now: deps.now() });
      const data = { name: key.name, did: key.did, path: key.path, encrypted: passphrase !== null };
      print(deps.io, deps.format(cmd), {
        data,
        text: () =>
          `created key '${key.name}' (${data.encrypted ? 'encrypted' : 'NOT encrypted'})\n` +
          `  did:  ${key.did}\n  file: ${key.path}\n\n` +
          `Give the DID to a fleet admin: they make you a root or grant you a capability\n` +
          `(gpufleet caps grant --to ${key.did} --can exec/run --on 'region=eu' --expires 7d).\n`,
      });
    });

  keys
    .command('ls')
    .alias('list')
    .description('list keys: name, DID, whether encrypted, when created')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet keys ls
  gpufleet keys ls -o wide      (file paths too)
  gpufleet keys ls -o json`,
    )
    .action(async (_opts, cmd: Command) => {
      const items = listOperatorKeys({ env: deps.io.env, home: deps.io.home });
      print(deps.io, deps.format(cmd), {
        data: { items },
        columns: keyColumns(deps.now()),
        rows: items,
        empty: `no keys in ${keysDir({ env: deps.io.env, home: deps.io.home })} (make one: gpufleet keys new)`,
      });
      for (const k of items) if (k.problem && deps.format(cmd) !== 'json' && deps.format(cmd) !== 'yaml') deps.io.err(`${k.name}: ${k.problem}\n`);
    });

  keys
    .command('did')
    .description("print a key's DID (no passphrase needed)")
    .argument('[name]', "key name, or a key file's path (./gpufleet-data/demo-operator.key)", DEFAULT_KEY_NAME)
    .addHelpText(
      'after',
      `
Examples:
  gpufleet keys did
  gpufleet keys did laptop
  gpufleet caps grant --to $(gpufleet keys did laptop) --can exec/run --on '*' --expires 1d`,
    )
    .action(async (name: string, _opts, cmd: Command) => {
      const { did } = describeOperatorKey(isKeyFilePath(name) ? name : checkKeyName(name), { env: deps.io.env, home: deps.io.home, cwd: deps.io.cwd });
      print(deps.io, deps.format(cmd), { data: { name, did }, text: () => `${did}\n` });
    });

  return keys;
}

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { scriptSha256, signScript, verifyScriptSignature, type ScriptDetail, type ScriptView } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { ApiError, seg } from '../api-client.js';
import { CliError, UsageError } from '../errors.js';
import { unlockOperatorKey, type HiddenInput, type KeyFlags } from '../keys/passphrase.js';
import { intOption } from '../args.js';
import { print, type Column } from '../output.js';
import { relativeTime } from '../units.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const shortDid = (did: string) => (did.length > 24 ? `${did.slice(0, 16)}…${did.slice(-6)}` : did);

function checkName(name: string): string {
  if (!NAME.test(name)) throw new UsageError(`'${name}' is not a script name: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  return name;
}

/** `NAME` or `NAME@VERSION`; -r and @ must agree when both are given. */
export function parseRef(ref: string, revision: number | undefined): { name: string; version: number | undefined } {
  const at = /^(.+)@(\d+)$/.exec(ref);
  const name = checkName(at ? at[1]! : ref);
  const fromRef = at ? Number(at[2]) : undefined;
  if (fromRef !== undefined && (!Number.isSafeInteger(fromRef) || fromRef < 1)) throw new UsageError(`'${ref}': a version is a positive integer`);
  if (fromRef !== undefined && revision !== undefined && fromRef !== revision)
    throw new UsageError(`'${ref}' and --version ${revision} name different versions`);
  return { name, version: fromRef ?? revision };
}

export function scriptColumns(now: number): Column<ScriptView>[] {
  return [
    { header: 'NAME', get: (s) => s.name },
    { header: 'VERSION', get: (s) => String(s.version), align: 'right' },
    { header: 'SHA256', get: (s) => s.sha256.slice(0, 12) },
    { header: 'SIGNER', get: (s) => shortDid(s.signer) },
    { header: 'UPDATED', get: (s) => relativeTime(s.createdAt, now) },
    { header: 'STATE', get: (s) => (s.removed ? 'removed' : 'active') },
    { header: 'BY', get: (s) => s.createdBy, wide: true },
    { header: 'SIGNER DID', get: (s) => s.signer, wide: true },
  ];
}

/** Checks locally what hosts check later: the content's hash and the signature over (name, version, sha256). */
function localCheck(d: ScriptDetail): string {
  if (scriptSha256(d.content) !== d.sha256) return 'INVALID: the content does not hash to the recorded SHA-256';
  const s = d.signature;
  if (s?.name !== d.name || s.version !== d.version || s.sha256 !== d.sha256) return 'INVALID: the signature covers another script, version or hash';
  return verifyScriptSignature(s) ? `valid, by ${s.signer}` : `INVALID: the signature does not verify as ${s.signer}`;
}

function detailText(d: ScriptDetail, now: number): string {
  const lines = [
    `name:      ${d.name}`,
    `version:   ${d.version}${d.removed ? ` (removed ${relativeTime(d.removedAt!, now)})` : ''}`,
    `sha256:    ${d.sha256}`,
    `signer:    ${d.signer}`,
    `signature: ${localCheck(d)}`,
    `added:     ${d.createdAt} by ${d.createdBy}`,
    `versions:  ${d.history.map((h) => `${h.version}${h.removed ? '(removed)' : ''}`).join(', ')}`,
    '',
    d.content.endsWith('\n') ? d.content : `${d.content}\n`,
  ];
  return lines.join('\n');
}

function readScript(deps: CliDeps, file: string): Promise<string> | string {
  if (file === '-') return deps.io.readStdin();
  try {
    return readFileSync(resolve(deps.io.cwd, file), 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** `gpufleet scripts`: the signed script library. `term` stands in for the terminal in tests. */
export function scriptsCommand(deps: CliDeps, term?: HiddenInput): Command {
  const scripts = new Command('scripts').description('the signed script library: vetted scripts hosts run only when hash and signature check out');
  scripts.addHelpText(
    'after',
    `
Each version is signed on your machine over (name, version, SHA-256); the control plane stores it
only if you are a fleet root or hold exec/script, and every host checks it again before running.

Examples:
  gpufleet scripts add gpu-reset ./gpu-reset.sh --sign --key ops
  gpufleet scripts ls
  gpufleet scripts show gpu-reset --version 1
  gpufleet exec --script gpu-reset -l pool=a
  gpufleet scripts rm gpu-reset`,
  );

  scripts
    .command('add')
    .description('sign a script with your key and add it as the next version')
    .argument('<name>', 'script name (letters, digits, . _ -)')
    .argument('<file>', "the script file ('-' reads stdin)")
    .option('--sign', 'sign it with your key (required: the library only takes signed scripts)')
    .option('--key <name>', "your signing key: a name, or a key file's path (default: default)")
    .option('--passphrase-env <VAR>', 'variable holding the key passphrase (default GPUFLEET_KEY_PASSPHRASE)')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet scripts add gpu-reset ./gpu-reset.sh --sign
  cat check.sh | gpufleet scripts add gpu-check - --sign --key ops`,
    )
    .action(async (name: string, file: string, _opts, cmd: Command) => {
      const o = deps.opts<KeyFlags & { sign?: boolean }>(cmd);
      checkName(name);
      if (!o.sign) throw new UsageError('scripts are stored signed: add --sign (the signature is made here, with your key)');
      const content = await readScript(deps, file);
      if (content.length === 0) throw new UsageError(`${file} is empty`);
      const client = deps.client(cmd);
      let next = 1;
      try {
        next = (await client.get<ScriptDetail>(`/api/v1/scripts/${seg(name)}`)).version + 1;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
      const key = await unlockOperatorKey(deps.io, { key: o.key, passphraseEnv: o.passphraseEnv }, term);
      const sha256 = scriptSha256(content);
      const signature = signScript(name, next, sha256, key.privateKeyPem);
      const added = await client.post<ScriptDetail>('/api/v1/scripts', { name, content, signature });
      print(deps.io, deps.format(cmd), {
        data: added,
        text: () => `added ${added.name} version ${added.version} (sha256 ${added.sha256.slice(0, 12)}…, signed by ${key.did})\n`,
      });
    });

  scripts
    .command('ls')
    .alias('list')
    .description('list scripts (newest version of each)')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet scripts ls
  gpufleet scripts ls -o wide`,
    )
    .action(async (_opts, cmd: Command) => {
      const result = await deps.client(cmd).get<{ items: ScriptView[] }>('/api/v1/scripts');
      const rows = Array.isArray(result?.items) ? result.items : [];
      print(deps.io, deps.format(cmd), {
        data: result,
        columns: scriptColumns(deps.now()),
        rows,
        empty: 'no scripts yet (add one: gpufleet scripts add NAME FILE --sign)',
      });
    });

  scripts
    .command('show')
    .description('show a script version: content, hash, signer, and whether the signature checks out here')
    .argument('<name>', 'script name, or NAME@VERSION')
    // The program's own -V/--version is only read before a subcommand, so this one is free.
    .option('--version <n>', 'this version (default: the newest)', intOption('--version', 1, 1_000_000_000))
    .option('-r, --revision <n>', 'the same as --version', intOption('--revision', 1, 1_000_000_000))
    .addHelpText(
      'after',
      `
Examples:
  gpufleet scripts show gpu-reset
  gpufleet scripts show gpu-reset@1
  gpufleet scripts show gpu-reset --version 1 -o json`,
    )
    .action(async (ref: string, _opts, cmd: Command) => {
      const o = deps.opts<{ revision?: number; version?: number }>(cmd);
      if (o.version !== undefined && o.revision !== undefined && o.version !== o.revision)
        throw new UsageError(`--version ${o.version} and --revision ${o.revision} name different versions`);
      const { name, version } = parseRef(ref, o.version ?? o.revision);
      const d = await deps.client(cmd).get<ScriptDetail>(`/api/v1/scripts/${seg(name)}`, { version });
      print(deps.io, deps.format(cmd), { data: d, text: () => detailText(d, deps.now()) });
    });

  scripts
    .command('rm')
    .alias('remove')
    .description('mark a script removed: hosts can no longer be sent it; its history stays')
    .argument('<name>', 'script name')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet scripts rm gpu-reset`,
    )
    .action(async (name: string, _opts, cmd: Command) => {
      const removed = await deps.client(cmd).request<ScriptView>('DELETE', `/api/v1/scripts/${seg(checkName(name))}`, {});
      if (!removed) throw new CliError(`the control plane did not confirm removing ${name}`);
      print(deps.io, deps.format(cmd), { data: removed, text: () => `removed ${removed.name} (versions 1-${removed.version} kept as history)\n` });
    });

  return scripts;
}

import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import {
  ABILITIES,
  Capability,
  capabilityChain,
  capabilityDepthExceeds,
  capabilityId,
  isDidKey,
  parseDurationMs,
  parseSelector,
  selectorNarrows,
  signCapability,
  signRevocation,
  verifyCapability,
  type Ability,
  type Revocation,
} from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { CliError, UsageError } from '../errors.js';
import { unlockOperatorKey, type HiddenInput, type KeyFlags } from '../keys/passphrase.js';
import { print, renderData, type Column } from '../output.js';
import { relativeTime } from '../units.js';
import { describeLimits, limitsFromFlags, type LimitFlags } from '../exec/limit-flags.js';

/** A capability as `GET /api/v1/capabilities` lists it (only the fields shown are relied on). */
interface CapabilityRow {
  id?: string;
  iss?: string;
  aud?: string;
  can?: string[];
  on?: string;
  exp?: string;
  state?: string;
  chain?: string[];
  capability?: Capability;
}

const iso = (ms: number) => new Date(ms).toISOString();
const shortDid = (did: string | undefined) => (did ? `${did.slice(0, 16)}…${did.slice(-6)}` : '-');

/** A point in time from a duration after now ("7d", "90m") or an ISO 8601 date or date-time. */
export function parseWhen(text: string, now: number, flag: string): number {
  const t = text.trim();
  if (/^\d+(ms|s|m|h|d)$/.test(t)) return now + parseDurationMs(t);
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(t)) {
    const at = Date.parse(t);
    if (Number.isFinite(at)) return at;
  }
  throw new UsageError(`${flag} '${text}' is neither a duration from now (90m, 24h, 7d) nor a date (2026-03-01 or 2026-03-01T12:00:00Z)`);
}

/** Collects a repeatable option's values. */
const collectList = (v: string, prev: string[] = []) => [...prev, v];

/** Abilities from `--can a,b` (repeatable); each must be a known one. */
export function parseAbilities(lists: readonly string[]): Ability[] {
  const words = lists
    .flatMap((l) => l.split(','))
    .map((w) => w.trim())
    .filter(Boolean);
  if (words.length === 0) throw new UsageError('--can needs at least one ability');
  for (const w of words) {
    if (!(ABILITIES as readonly string[]).includes(w)) throw new UsageError(`unknown ability '${w}' (one of ${ABILITIES.join(', ')})`);
  }
  return [...new Set(words)] as Ability[];
}

function readText(file: string, deps: CliDeps): Promise<string> | string {
  if (file === '-') return deps.io.readStdin();
  try {
    return readFileSync(resolve(deps.io.cwd, file), 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The parent for --from-cap: a capability in JSON, bare or inside `{ capability }` (as the API lists it). */
export function parseParentCapability(text: string, file: string): Capability {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UsageError(`--from-cap ${file} is not JSON`);
  }
  if (raw && typeof raw === 'object' && 'capability' in raw) raw = (raw as { capability: unknown }).capability;
  if (capabilityDepthExceeds(raw)) throw new UsageError(`--from-cap ${file}: its delegation chain is too deep`);
  const parsed = Capability.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`--from-cap ${file} is not a capability (${issue ? `${issue.path.join('.') || 'top'}: ${issue.message}` : 'invalid'})`);
  }
  return parsed.data;
}

/**
 * Checks a parent before delegating from it, as far as this machine can: signatures, links,
 * attenuation and time hold, taking its chain's first issuer as a root (only hosts know the
 * real roots) and leaving out this host's labels and the ability (selector_mismatch and
 * ability_not_granted come last in verifyCapability's order, so reaching them means the rest held).
 */
function checkParent(parent: Capability, myDid: string, now: number, file: string): void {
  if (parent.aud !== myDid) throw new UsageError(`--from-cap ${file} was delegated to ${parent.aud}, not to your key ${myDid}`);
  const top = capabilityChain(parent)[0]!;
  const verdict = verifyCapability(parent, { roots: [top.iss], now, isRevoked: () => false, hostLabels: {}, ability: '*', invoker: myDid });
  if (!verdict.ok && verdict.reason !== 'selector_mismatch' && verdict.reason !== 'ability_not_granted') {
    throw new UsageError(`--from-cap ${file} does not hold up (${verdict.reason}): ${verdict.message}`);
  }
}

interface GrantFlags extends KeyFlags, LimitFlags {
  to: string;
  can: string[];
  on?: string;
  expires?: string;
  notBefore?: string;
  fromCap?: string;
  out?: string;
  publish?: boolean;
}

/** Builds and signs the capability `caps grant` asks for. */
async function grant(deps: CliDeps, o: GrantFlags, term?: HiddenInput): Promise<Capability> {
  const now = deps.now();
  if (!isDidKey(o.to)) throw new UsageError(`--to '${o.to}' is not a did:key (\`gpufleet keys did\` prints one)`);
  const can = parseAbilities(o.can);
  if (o.on !== undefined) parseSelector(o.on); // a bad selector is a usage error before anything is unlocked
  let parent: Capability | null = null;
  if (o.fromCap !== undefined) parent = parseParentCapability(await readText(o.fromCap, deps), o.fromCap);
  if (!parent && o.on === undefined) throw new UsageError("--on is required: a label selector such as 'region=eu', or '*' for every host");
  if (!parent && o.expires === undefined) throw new UsageError('--expires is required: a duration (24h, 7d) or a date');

  const exp = o.expires !== undefined ? parseWhen(o.expires, now, '--expires') : parent!.exp;
  if (exp <= now)
    throw new UsageError(o.expires !== undefined ? `--expires ${o.expires} is in the past (${iso(exp)})` : `the parent capability expired at ${iso(exp)}`);
  const nbf = o.notBefore !== undefined ? parseWhen(o.notBefore, now, '--not-before') : Math.max(now, parent?.nbf ?? now);
  if (nbf >= exp) throw new UsageError(`--not-before (${iso(nbf)}) must come before the expiry (${iso(exp)})`);
  const on = (o.on ?? parent!.on).trim();
  const limits = limitsFromFlags(o, parent);
  if (limits?.scripts === 'root-signed' && (can.includes('exec/run') || can.includes('*'))) {
    // Not an error (the limit still holds for library scripts), but the holder can run any text as a shell command.
    deps.io.err(
      'note: --scripts root-signed limits library scripts only; with exec/run the holder can still run any command (grant exec/script alone to allow only root-signed scripts)\n',
    );
  }

  const key = await unlockOperatorKey(deps.io, { key: o.key, passphraseEnv: o.passphraseEnv }, term);
  if (parent) {
    const file = o.fromCap!;
    checkParent(parent, key.did, now, file);
    const extra = parent.can.includes('*') ? undefined : can.find((a) => !parent!.can.includes(a));
    if (extra) throw new UsageError(`--can ${extra} is not granted by --from-cap ${file} (it grants ${parent.can.join(', ')})`);
    if (!selectorNarrows(parseSelector(on), parseSelector(parent.on)))
      throw new UsageError(`--on '${on}' is broader than the parent's '${parent.on}': add to it, do not replace it`);
    if (exp > parent.exp) throw new UsageError(`--expires ${iso(exp)} is after the parent's expiry (${iso(parent.exp)})`);
    if (nbf < parent.nbf) throw new UsageError(`--not-before ${iso(nbf)} is before the parent's start (${iso(parent.nbf)})`);
  }
  return signCapability(
    {
      v: 1,
      iss: key.did,
      aud: o.to,
      can,
      on,
      nbf,
      exp,
      nonce: randomBytes(16).toString('base64url'),
      prf: parent ? [parent] : [],
      ...(limits ? { limits } : {}),
    },
    key.privateKeyPem,
  );
}

function capColumns(now: number): Column<CapabilityRow>[] {
  const cap = (r: CapabilityRow) => r.capability;
  return [
    { header: 'ID', get: (r) => (r.id ?? (cap(r) ? capabilityId(cap(r)!) : '-')).slice(0, 12) },
    { header: 'STATE', get: (r) => r.state ?? '-' },
    { header: 'AUDIENCE', get: (r) => shortDid(r.aud ?? cap(r)?.aud) },
    { header: 'CAN', get: (r) => (r.can ?? cap(r)?.can ?? []).join(',') || '-' },
    { header: 'ON', get: (r) => r.on ?? cap(r)?.on ?? '-' },
    { header: 'EXPIRES', get: (r) => relativeTime(r.exp ?? (cap(r) ? iso(cap(r)!.exp) : null), now) },
    { header: 'ISSUER', get: (r) => shortDid(r.iss ?? cap(r)?.iss), wide: true },
    { header: 'DEPTH', get: (r) => String(r.chain?.length ?? (cap(r) ? capabilityChain(cap(r)!).length : '-')), wide: true, align: 'right' },
  ];
}

/** Resolves `caps revoke`'s argument: a did:key, a full capability id, or a unique id prefix of a listed capability. */
async function revocationTarget(deps: CliDeps, cmd: Command, ref: string): Promise<Revocation['target']> {
  if (isDidKey(ref)) return { did: ref };
  if (/^[0-9a-f]{64}$/.test(ref)) return { capability: ref };
  if (!/^[0-9a-f]{6,63}$/.test(ref)) throw new UsageError(`'${ref}' is neither a capability id (hex, at least 6 characters) nor a did:key`);
  const { items } = await deps.client(cmd).get<{ items: CapabilityRow[] }>('/api/v1/capabilities');
  const ids = [...new Set(items.map((r) => r.id ?? (r.capability ? capabilityId(r.capability) : '')).filter((id) => id.startsWith(ref)))];
  if (ids.length === 0) throw new CliError(`no registered capability id starts with ${ref} (give the full 64-character id to revoke one not registered)`);
  if (ids.length > 1) throw new UsageError(`capability id prefix ${ref} is ambiguous: ${ids.map((i) => i.slice(0, 16)).join(', ')}`);
  return { capability: ids[0]! };
}

/** `gpufleet caps`: grant, list and revoke delegated capabilities. `term` stands in for the terminal in tests. */
export function capsCommand(deps: CliDeps, term?: HiddenInput): Command {
  const caps = new Command('caps')
    .alias('capabilities')
    .description('grant, list and revoke capabilities: signed, expiring delegations of abilities on selected hosts');
  caps.addHelpText(
    'after',
    `
Hosts verify every capability themselves: its signature chain must start at a fleet root, each
delegation may only narrow its parent (abilities, selector, time), and it must not be revoked.

Abilities: ${ABILITIES.join(', ')}

Examples:
  gpufleet caps grant --to did:key:z6Mk... --can exec/run --on 'region=eu' --expires 7d --publish
  gpufleet caps grant --to did:key:z6Mk... --can container/logs --on 'region=eu,pool=web' --from-cap mine.json
  gpufleet caps ls
  gpufleet caps revoke 3f2a9c01b2d4 --reason "left the team"`,
  );

  caps
    .command('grant')
    .description('sign a capability with your key and print it as JSON (or save it, or publish it)')
    .requiredOption('--to <did>', 'the DID it is delegated to (`gpufleet keys did` on their machine)')
    .requiredOption('--can <abilities>', `comma-separated abilities (${ABILITIES.join(', ')})`, (v: string, prev: string[] = []) => [...prev, v])
    .option('--on <selector>', "hosts it applies to: a label selector, or '*' (default with --from-cap: the parent's)")
    .option('--expires <when>', "duration from now (24h, 7d) or a date (default with --from-cap: the parent's expiry)")
    .option('--not-before <when>', 'valid from (duration from now or a date; default: now)')
    .option('--from-cap <file>', "narrow this capability of yours ('-' reads stdin); it travels inside the new one")
    .option('--key <name>', 'your signing key (default: default)')
    .option('--passphrase-env <VAR>', 'variable holding the key passphrase (default GPUFLEET_KEY_PASSPHRASE)')
    .option('--out <file>', 'write the capability to this file instead of stdout')
    .option('--publish', 'also register it with the control plane (listed by caps ls)')
    .option(
      '--run-as <users>',
      "only run commands as these accounts (comma-separated, repeatable; * is a wildcard); a command without --run-as counts as the agent's own account",
      collectList,
    )
    .option('--env-allow <names>', "only these environment variable names (comma-separated, repeatable; 'HF_*' allows every HF_ name)", collectList)
    .option('--env-none', 'no environment variables at all')
    .option(
      '--cwd-allow <dirs>',
      "only these working folders (absolute; '/srv/jobs/*' allows everything below /srv/jobs); commands must then give --cwd",
      collectList,
    )
    .option('--scripts <rule>', "'root-signed': library scripts run only when a fleet root signed them, not the holder")
    .addHelpText(
      'after',
      `
A fleet root grants with no proof; anyone else narrows a capability they hold with --from-cap.
Limits (--run-as, --env-allow, --env-none, --cwd-allow, --scripts) are checked by every host on
every command; with --from-cap the parent's limits carry over and may only be narrowed.

Examples:
  gpufleet caps grant --to did:key:z6Mk... --can exec/run --on 'region=eu' --expires 7d
  gpufleet caps grant --to did:key:z6Mk... --can exec/run,container/logs --on 'gpu.model=H100' --expires 2026-06-30 --out alice.cap.json
  gpufleet caps grant --to did:key:z6MkSERVER... --can container/restart --on 'pool=inference' --expires 30d --publish
      (the control plane's DID is at GET /api/v1/server-identity: delegate remediation to it)
  gpufleet caps grant --to did:key:z6Mk... --can container/logs --on 'region=eu,team=ml' --from-cap alice.cap.json
  gpufleet caps grant --to did:key:z6Mk... --can exec/run --on 'pool=train' --expires 7d --run-as root,ubuntu --env-allow 'HF_*' --cwd-allow '/srv/jobs,/srv/jobs/*'
  gpufleet caps grant --to did:key:z6Mk... --can exec/script --on '*' --expires 30d --scripts root-signed`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<GrantFlags>(cmd);
      const cap = await grant(deps, o, term);
      const id = capabilityId(cap);
      const format = deps.format(cmd);
      const summary = `granted ${cap.can.join(',')} on '${cap.on}'${describeLimits(cap.limits)} to ${cap.aud} until ${iso(cap.exp)}${cap.prf.length ? ' (narrowing your capability)' : ''}; id ${id}`;
      if (o.out !== undefined) {
        writeFileSync(resolve(deps.io.cwd, o.out), renderData(cap, format === 'yaml' ? 'yaml' : 'json'));
        deps.io.out(`${summary}\nsaved to ${o.out}\n`);
      } else {
        deps.io.out(renderData(cap, format === 'yaml' ? 'yaml' : 'json'));
        deps.io.err(`${summary}\n`);
      }
      if (o.publish) {
        const view = await deps.client(cmd).post<CapabilityRow>('/api/v1/capabilities', { capability: cap });
        deps.io.err(`published to the control plane${view?.state ? ` (${view.state})` : ''}\n`);
      }
    });

  caps
    .command('ls')
    .alias('list')
    .description('list capabilities registered with the control plane')
    .option('--to <did>', 'only those delegated to this DID')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet caps ls
  gpufleet caps ls --to $(gpufleet keys did) -o wide
  gpufleet caps ls -o json | jq '.items[].capability'`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<{ to?: string }>(cmd);
      if (o.to !== undefined && !isDidKey(o.to)) throw new UsageError(`--to '${o.to}' is not a did:key`);
      const result = await deps.client(cmd).get<{ items: CapabilityRow[] }>('/api/v1/capabilities', { aud: o.to });
      const rows = Array.isArray(result?.items) ? result.items : [];
      print(deps.io, deps.format(cmd), {
        data: result,
        columns: capColumns(deps.now()),
        rows,
        empty: 'no capabilities registered (grant one: gpufleet caps grant ... --publish)',
      });
    });

  caps
    .command('revoke')
    .description('sign a revocation of a capability (by id) or of every capability of a key (by DID) and send it to the hosts')
    .argument('<id-or-did>', 'capability id (or a unique prefix from caps ls) or a did:key')
    .option('--reason <text>', 'why (kept in the audit log)', '')
    .option('--key <name>', 'your signing key (default: default)')
    .option('--passphrase-env <VAR>', 'variable holding the key passphrase (default GPUFLEET_KEY_PASSPHRASE)')
    .addHelpText(
      'after',
      `
Hosts honour revocations signed by a fleet root or by a key revoking itself (a DID).

Examples:
  gpufleet caps revoke 3f2a9c01b2d4 --reason "rotated"
  gpufleet caps revoke did:key:z6Mk... --reason "laptop stolen"`,
    )
    .action(async (ref: string, _opts, cmd: Command) => {
      const o = deps.opts<KeyFlags & { reason: string }>(cmd);
      if (o.reason.length > 500) throw new UsageError('--reason is longer than 500 characters');
      const target = await revocationTarget(deps, cmd, ref.trim());
      const key = await unlockOperatorKey(deps.io, { key: o.key, passphraseEnv: o.passphraseEnv }, term);
      const revocation = signRevocation({ v: 1, target, iss: key.did, at: deps.now(), reason: o.reason }, key.privateKeyPem);
      const view = await deps.client(cmd).post<unknown>('/api/v1/revocations', { revocation });
      const what = 'did' in target ? `every capability issued by or to ${target.did}` : `capability ${target.capability}`;
      print(deps.io, deps.format(cmd), { data: view ?? revocation, text: () => `revoked ${what}\n` });
    });

  return caps;
}

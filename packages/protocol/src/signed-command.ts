import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { capabilityChain, DEFAULT_SKEW_MS, grants, unvouchedMessage, verifyCapability } from './capability.js';
import { commandLimitProblem } from './command-limits.js';
import { keyPairFromPem, signEd25519, verifyEd25519 } from './ed25519.js';
import { FleetError } from './errors.js';
import {
  abilityForContainerOp,
  capabilityDepthExceeds,
  CommandPayload,
  MAX_CHAIN_DEPTH,
  ScriptSignature,
  SignedCommand,
  type Ability,
  type CommandSpec,
  type RefusalReason,
  type Verdict,
} from './remote-ops.js';
import { matchesSelector, parseSelector, unvouchedKeys, vouchesForPresent, type Labels, type Selector, type VouchesFor } from './selector.js';

// Capability limits and signed cancels are part of this module's API (the package index exports it).
export * from './command-limits.js';
export * from './signed-cancel.js';

/**
 * How long after its timeout a command is still accepted: the server gives hosts the same
 * grace before it calls them unreachable (RunService graceMs), so a host never starts what the
 * server has given up on.
 */
export const COMMAND_ACCEPT_GRACE_MS = 60_000;

/**
 * The last moment (epoch ms, before clock skew) a host may start `payload`: issuedAt + timeoutMs
 * + COMMAND_ACCEPT_GRACE_MS. Every payload carries its timeout (the schema requires one, at most
 * 7 days; the CLI and the dashboard default to 60 s), so no command is accepted unboundedly late.
 */
export function commandDeadline(payload: Pick<CommandPayload, 'issuedAt' | 'timeoutMs'>): number {
  return payload.issuedAt + payload.timeoutMs + COMMAND_ACCEPT_GRACE_MS;
}

/** What a host knows when it judges a signed command. */
export interface SignedCommandContext {
  roots: readonly string[];
  now: number;
  /** Clock skew tolerated on both edges of every time window; default 60 s. */
  skewMs?: number;
  isRevoked: (capId: string, did: string) => boolean;
  hostLabels: Labels;
  /** The label keys this host can vouch for (see CapabilityContext.vouches); default: the keys in hostLabels. */
  vouches?: VouchesFor;
  /** True when this nonce was seen before. Asked last, only for a command that passed every other check. */
  seenNonce: (nonce: string) => boolean;
  /** For `kind: 'script'`: the content the server delivered and the library's signature over it. */
  scriptContent?: string | null;
  scriptSignature?: ScriptSignature | null;
  /**
   * Refuse commands issued longer ago than this (plus skew) as expired. Unset: no age limit.
   * A host whose replay cache forgets nonces after N ms should pass N here, so a command can
   * never outlive the memory of its nonce.
   */
  maxAgeMs?: number;
  /** The account a command without runAs runs under (the agent's own), for capability runAs limits. */
  agentUser?: string;
}

/** The bytes a command's signature covers: canonical JSON of its payload. */
export function commandSigningInput(payload: CommandPayload): string {
  return canonicalJson(payload);
}

/** The SHA-256 (hex) of a script's UTF-8 content, as commands and script signatures name it. */
export function scriptSha256(content: string): string {
  return createHash('sha256').update(content, 'utf8').digest('hex');
}

/**
 * The abilities that may authorize a command: argv and shell need exec/run; a library script
 * needs exec/script (exec/run also covers it, since its holder could run the same text as a
 * shell script); a container operation needs abilityForContainerOp(op) (ls and logs: container/logs).
 */
export function commandAbilities(command: CommandSpec): Ability[] {
  switch (command.kind) {
    case 'argv':
    case 'shell':
      return ['exec/run'];
    case 'script':
      return ['exec/script', 'exec/run'];
    case 'container':
      return [abilityForContainerOp(command.op)];
  }
}

/**
 * Signs a command payload with the invoker's key. Throws FleetError('invalid_argument') when
 * the payload is not valid or the key is not the invoker's.
 */
export function signCommand(payload: CommandPayload, privateKeyPem: string): SignedCommand {
  const parsed = CommandPayload.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FleetError('invalid_argument', `not a valid command payload: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`);
  }
  const keyDid = keyPairFromPem(privateKeyPem).did;
  if (keyDid !== payload.invoker) throw new FleetError('invalid_argument', `the signing key is ${keyDid}, but the command's invoker is ${payload.invoker}`);
  return { payload, sig: signEd25519(privateKeyPem, commandSigningInput(payload)) };
}

/** The bytes a script signature covers. */
export function scriptSigningInput(name: string, version: number, sha256: string): string {
  return canonicalJson({ name, version, sha256 });
}

/** Signs a library script's (name, version, sha256) with the signer's key. */
export function signScript(name: string, version: number, sha256: string, privateKeyPem: string): ScriptSignature {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new FleetError('invalid_argument', 'a script hash is 64 lowercase hex characters (SHA-256)');
  if (!Number.isInteger(version) || version < 1) throw new FleetError('invalid_argument', 'a script version is a positive integer');
  if (name.length === 0 || name.length > 200) throw new FleetError('invalid_argument', 'a script name is 1 to 200 characters');
  const signer = keyPairFromPem(privateKeyPem).did;
  return { name, version, sha256, signer, sig: signEd25519(privateKeyPem, scriptSigningInput(name, version, sha256)) };
}

/** True when `signature` is a well-formed script signature whose Ed25519 signature by `signer` holds. Says nothing of whether the signer is trusted. */
export function verifyScriptSignature(signature: unknown): boolean {
  const parsed = ScriptSignature.safeParse(signature);
  if (!parsed.success) return false;
  const s = parsed.data;
  return verifyEd25519(s.signer, scriptSigningInput(s.name, s.version, s.sha256), s.sig);
}

function refused(reason: RefusalReason, message: string): Verdict {
  return { ok: false, reason, message };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function short(did: string): string {
  return did.length > 24 ? `${did.slice(0, 16)}…${did.slice(-6)}` : did;
}

/**
 * Decides whether this host runs a signed command. Checks, in this order, refusing with the
 * first failure's reason: shape (malformed); the invoker's signature over the payload
 * (bad_signature); that the declared ability fits the command (ability_not_granted); the
 * issue time against the clock (not_yet_valid; expired past commandDeadline, or when older
 * than ctx.maxAgeMs); the
 * invoker's authority: a fleet root with no capability (else unknown_issuer; revoked when its
 * DID is revoked), or a capability that verifies for this ability on this host (see
 * verifyCapability); that this host matches the payload's target (selector_mismatch); for a
 * library script, the delivered content's hash (script_tampered) and the script signature by
 * a root or by the invoker holding exec/script (script_unsigned); the limits of every
 * capability link on runAs, env, cwd and script signer (constraint_violated); and last, the nonce
 * (replayed_nonce), so a cache that records what it is asked records only accepted commands.
 */
export function verifySignedCommand(cmd: SignedCommand, ctx: SignedCommandContext): Verdict {
  if (capabilityDepthExceeds((cmd as { payload?: { capability?: unknown } } | null)?.payload?.capability)) {
    return refused('malformed', `capability chain is deeper than ${MAX_CHAIN_DEPTH} links`);
  }
  const parsed = SignedCommand.safeParse(cmd);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return refused('malformed', `command is malformed: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  const { payload, sig } = parsed.data;
  if (!verifyEd25519(payload.invoker, commandSigningInput(payload), sig)) {
    return refused('bad_signature', `command ${payload.runId} does not carry a valid signature by its invoker ${short(payload.invoker)}`);
  }

  const allowed = commandAbilities(payload.command);
  if (!allowed.includes(payload.ability)) {
    return refused('ability_not_granted', `a ${payload.command.kind} command needs ${allowed.join(' or ')}, but it was signed for '${payload.ability}'`);
  }

  const skew = ctx.skewMs ?? DEFAULT_SKEW_MS;
  if (payload.issuedAt > ctx.now + skew)
    return refused('not_yet_valid', `command is issued at ${iso(payload.issuedAt)}, in the future (host time ${iso(ctx.now)})`);
  if (ctx.now > commandDeadline(payload) + skew) {
    return refused(
      'expired',
      `command was issued at ${iso(payload.issuedAt)} with a ${payload.timeoutMs} ms timeout: its deadline ${iso(commandDeadline(payload))} has passed (host time ${iso(ctx.now)})`,
    );
  }
  if (ctx.maxAgeMs !== undefined && payload.issuedAt < ctx.now - ctx.maxAgeMs - skew) {
    return refused('expired', `command was issued at ${iso(payload.issuedAt)}, longer ago than this host accepts (host time ${iso(ctx.now)})`);
  }

  if (payload.capability === null) {
    if (!ctx.roots.includes(payload.invoker))
      return refused('unknown_issuer', `invoker ${short(payload.invoker)} is not a fleet root and presents no capability`);
    if (ctx.isRevoked('', payload.invoker)) return refused('revoked', `invoker ${short(payload.invoker)} is revoked`);
  } else {
    const verdict = verifyCapability(payload.capability, {
      roots: ctx.roots,
      now: ctx.now,
      skewMs: skew,
      isRevoked: ctx.isRevoked,
      hostLabels: ctx.hostLabels,
      ...(ctx.vouches ? { vouches: ctx.vouches } : {}),
      ability: payload.ability,
      invoker: payload.invoker,
    });
    if (!verdict.ok) return verdict;
  }

  let target: Selector;
  try {
    target = parseSelector(payload.target);
  } catch (err) {
    return refused('malformed', `command target is not a selector: ${(err as Error).message}`);
  }
  const unknown = unvouchedKeys(target, ctx.vouches ?? vouchesForPresent(ctx.hostLabels));
  if (unknown.length > 0) return refused('selector_mismatch', unvouchedMessage(unknown, `the command's target '${payload.target}'`));
  if (!matchesSelector(target, ctx.hostLabels)) return refused('selector_mismatch', `this host does not match the command's target '${payload.target}'`);

  if (payload.command.kind === 'script') {
    const verdict = verifyScript(payload, payload.command, ctx);
    if (!verdict.ok) return verdict;
  }

  // Limits are about processes (their account, environment, folder, script); a container operation has none of them.
  if (payload.capability !== null && payload.command.kind !== 'container') {
    const s = payload.command.kind === 'script' ? (ctx.scriptSignature as ScriptSignature) : null;
    const script = s ? { signer: s.signer, byRoot: ctx.roots.includes(s.signer) } : null;
    // Every link's limits hold (verifyCapability checked that each narrows its parent; checking all is the belt to those braces).
    for (const link of capabilityChain(payload.capability)) {
      const problem = commandLimitProblem({ runAs: payload.runAs, env: payload.env, cwd: payload.cwd, script }, link.limits, ctx.agentUser);
      if (problem !== null) return refused('constraint_violated', `the capability does not allow this command: ${problem}`);
    }
  }

  if (ctx.seenNonce(payload.nonce)) return refused('replayed_nonce', `command nonce ${payload.nonce.slice(0, 12)}… was seen before: a replay`);
  return { ok: true };
}

type ScriptSpec = Extract<CommandSpec, { kind: 'script' }>;

function verifyScript(payload: CommandPayload, spec: ScriptSpec, ctx: SignedCommandContext): Verdict {
  const label = `${spec.name}@${spec.version}`;
  if (typeof ctx.scriptContent !== 'string') return refused('script_tampered', `script ${label} arrived without its content`);
  const actual = scriptSha256(ctx.scriptContent);
  if (actual !== spec.sha256)
    return refused('script_tampered', `script ${label} content hashes to ${actual.slice(0, 12)}…, but the command names ${spec.sha256.slice(0, 12)}…`);

  const parsedSig = ScriptSignature.safeParse(ctx.scriptSignature);
  if (ctx.scriptSignature == null || !parsedSig.success)
    return refused('script_unsigned', `script ${label} has no ${ctx.scriptSignature == null ? '' : 'well-formed '}signature`);
  const s = parsedSig.data;
  if (s.name !== spec.name || s.version !== spec.version || s.sha256 !== spec.sha256) {
    return refused(
      'script_unsigned',
      `the signature delivered covers ${s.name}@${s.version} (${s.sha256.slice(0, 12)}…), not ${label} (${spec.sha256.slice(0, 12)}…)`,
    );
  }
  if (!verifyScriptSignature(s)) return refused('script_unsigned', `script ${label} signature by ${short(s.signer)} does not verify`);

  const byRoot = ctx.roots.includes(s.signer);
  // A non-root signer is trusted only as the invoker itself, whose capability (verified above) must grant exec/script.
  const byEntitledInvoker = s.signer === payload.invoker && payload.capability !== null && grants(payload.capability.can, 'exec/script');
  if (!byRoot && !byEntitledInvoker)
    return refused('script_unsigned', `script ${label} is signed by ${short(s.signer)}, who is neither a fleet root nor the invoker holding exec/script`);
  if (ctx.isRevoked('', s.signer)) return refused('revoked', `script ${label} signer ${short(s.signer)} is revoked`);
  return { ok: true };
}

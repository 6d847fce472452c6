import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { limitsNarrowProblem } from './command-limits.js';
import { keyPairFromPem, signEd25519, verifyEd25519 } from './ed25519.js';
import { FleetError } from './errors.js';
import { Capability, capabilityDepthExceeds, MAX_CHAIN_DEPTH, type Ability, type RefusalReason, type Verdict } from './remote-ops.js';
import { matchesSelector, parseSelector, unvouchedKeys, vouchesForPresent, type Labels, type Requirement, type Selector, type VouchesFor } from './selector.js';

/** Clock skew allowed between the signer's clock and the host's: ±60 s. */
export const DEFAULT_SKEW_MS = 60_000;

/** What a host knows when it judges a capability. */
export interface CapabilityContext {
  /** The fleet roots' DIDs: every chain must start at one of them. */
  roots: readonly string[];
  /** Now, in epoch ms (injected so tests control time). */
  now: number;
  /** Clock skew tolerated on both edges of the time window; default 60 s. */
  skewMs?: number;
  /** True when the capability id or the DID has been revoked. Asked for every link, for its issuer and its audience. */
  isRevoked: (capId: string, did: string) => boolean;
  /** This host's labels, matched against each link's `on`. */
  hostLabels: Labels;
  /**
   * Which label keys this host can vouch for (present with that value, or known absent). A
   * selector naming any other key is refused (selector_mismatch), never treated as absent.
   * Default: only the keys in hostLabels.
   */
  vouches?: VouchesFor;
  /** The ability being exercised. */
  ability: Ability;
  /** Who presents the capability: the last link's audience must be this DID. */
  invoker: string;
}

/** The bytes a capability's signature covers: canonical JSON of every field but `sig`. */
export function capabilitySigningInput(fields: Omit<Capability, 'sig'> | Capability): string {
  const { sig: _sig, ...rest } = fields as Capability;
  return canonicalJson(rest);
}

/**
 * Signs a capability with the issuer's key. Throws FleetError('invalid_argument') when the
 * fields do not form a valid capability or the key is not the issuer's.
 */
export function signCapability(fields: Omit<Capability, 'sig'>, privateKeyPem: string): Capability {
  const keyDid = keyPairFromPem(privateKeyPem).did;
  if (keyDid !== fields.iss) throw new FleetError('invalid_argument', `the signing key is ${keyDid}, but the capability's issuer is ${fields.iss}`);
  const cap = { ...fields, sig: signEd25519(privateKeyPem, capabilitySigningInput(fields)) };
  const parsed = Capability.safeParse(cap);
  if (!parsed.success) throw new FleetError('invalid_argument', `not a valid capability: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  if (cap.exp < cap.nbf) throw new FleetError('invalid_argument', 'capability expires before it becomes valid');
  parseSelector(cap.on); // throws invalid_argument naming what is wrong with the selector
  return cap;
}

/** A capability's id: sha256 hex of its canonical JSON, signature included. Revocations name capabilities by it. */
export function capabilityId(cap: Capability): string {
  return createHash('sha256').update(canonicalJson(cap)).digest('hex');
}

/**
 * The chain of a capability, root-issued link first and the given capability last. Only
 * follows `prf[0]`; the schema allows one parent.
 */
export function capabilityChain(cap: Capability): Capability[] {
  const chain: Capability[] = [];
  for (let link: Capability | undefined = cap; link; link = link.prf[0]) chain.unshift(link);
  return chain;
}

function refused(reason: RefusalReason, message: string): Verdict {
  return { ok: false, reason, message };
}

function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function short(did: string): string {
  return did.length > 24 ? `${did.slice(0, 16)}…${did.slice(-6)}` : did;
}

/**
 * The refusal text for selector keys a host cannot vouch for; `where` names the selector
 * (e.g. "the command's target 'env!=prod'").
 */
export function unvouchedMessage(keys: readonly string[], where: string): string {
  const named = keys.map((k) => `'${k}'`).join(', ');
  return `this host cannot vouch for label ${named} named by ${where}: it is not built in, not in its join token, and no signed label attestation sets it, so it is refused rather than treated as absent`;
}

/**
 * Whether a requirement of a child selector guarantees a requirement of its parent: every
 * label set that satisfies `child` also satisfies `parent`. Identical requirements always
 * do; a few strictly narrower forms do too (`k=v` under `k in (v,w)`, a smaller `in` set,
 * a larger `notin` set, `k=v` under `k`...). Anything else is treated as broader.
 */
export function requirementImplies(child: Requirement, parent: Requirement): boolean {
  if (child.key !== parent.key) return false;
  const subset = (a: readonly string[], b: readonly string[]) => a.every((v) => b.includes(v));
  switch (parent.op) {
    case 'eq':
      return (child.op === 'eq' && child.value === parent.value) || (child.op === 'in' && child.values.every((v) => v === parent.value));
    case 'in':
      return (child.op === 'eq' && parent.values.includes(child.value)) || (child.op === 'in' && subset(child.values, parent.values));
    case 'exists':
      return child.op === 'exists' || child.op === 'eq' || child.op === 'in';
    case 'notexists':
      return child.op === 'notexists';
    case 'neq':
      return (
        (child.op === 'neq' && child.value === parent.value) ||
        (child.op === 'eq' && child.value !== parent.value) ||
        (child.op === 'in' && !child.values.includes(parent.value)) ||
        (child.op === 'notin' && child.values.includes(parent.value)) ||
        child.op === 'notexists'
      );
    case 'notin':
      return (
        (child.op === 'notin' && subset(parent.values, child.values)) ||
        (child.op === 'eq' && !parent.values.includes(child.value)) ||
        (child.op === 'in' && child.values.every((v) => !parent.values.includes(v))) ||
        (child.op === 'neq' && parent.values.every((v) => v === child.value)) ||
        child.op === 'notexists'
      );
  }
}

/**
 * Whether `child` selects the same hosts as `parent` or fewer: the parent selects everything
 * ('*' or ''), or each of the parent's requirements is guaranteed by one of the child's.
 */
export function selectorNarrows(child: Selector, parent: Selector): boolean {
  return parent.requirements.every((p) => child.requirements.some((c) => requirementImplies(c, p)));
}

function abilitiesNarrow(child: readonly Ability[], parent: readonly Ability[]): Ability | null {
  if (parent.includes('*')) return null;
  return child.find((a) => !parent.includes(a)) ?? null;
}

/** Whether a list of abilities grants `ability` ('*' grants everything). */
export function grants(can: readonly Ability[], ability: Ability): boolean {
  return can.includes('*') || can.includes(ability);
}

/**
 * Decides whether `invoker` may exercise `ctx.ability` on this host with `cap`. Checks, in
 * this order, and refuses with the first failure's reason: the shape and depth (malformed),
 * every link's signature (bad_signature), that the chain starts at a fleet root
 * (unknown_issuer for a lone capability, untrusted_chain for a delegated one) and that each
 * link is issued by its parent's audience (untrusted_chain), revocations of any link or of
 * any issuer or audience (revoked), attenuation of abilities, selector, time and limits
 * (runAs, env, cwd, scripts; see command-limits.ts) at each step (not_attenuated), that the last audience is the invoker (untrusted_chain), the time window
 * with skew (expired / not_yet_valid), that this host can vouch for every label each link's
 * selector names and matches it (selector_mismatch), and that the ability is granted (ability_not_granted).
 */
export function verifyCapability(cap: Capability, ctx: CapabilityContext): Verdict {
  if (capabilityDepthExceeds(cap)) return refused('malformed', `capability chain is deeper than ${MAX_CHAIN_DEPTH} links`);
  const parsed = Capability.safeParse(cap);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return refused('malformed', `capability is malformed: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  const chain = capabilityChain(parsed.data);
  const selectors: Selector[] = [];
  for (const [i, link] of chain.entries()) {
    if (link.exp < link.nbf) return refused('malformed', `capability link ${i} expires (${iso(link.exp)}) before it becomes valid (${iso(link.nbf)})`);
    try {
      selectors.push(parseSelector(link.on));
    } catch (err) {
      return refused('malformed', `capability link ${i} has a bad selector: ${(err as Error).message}`);
    }
  }

  for (const [i, link] of chain.entries()) {
    if (!verifyEd25519(link.iss, capabilitySigningInput(link), link.sig)) {
      return refused('bad_signature', `capability link ${i} does not carry a valid signature by its issuer ${short(link.iss)}`);
    }
  }

  const top = chain[0]!;
  if (!ctx.roots.includes(top.iss)) {
    return chain.length === 1
      ? refused('unknown_issuer', `capability issuer ${short(top.iss)} is not a fleet root`)
      : refused('untrusted_chain', `capability chain starts at ${short(top.iss)}, which is not a fleet root`);
  }
  for (let i = 1; i < chain.length; i++) {
    const parent = chain[i - 1]!;
    const child = chain[i]!;
    if (child.iss !== parent.aud) {
      return refused('untrusted_chain', `capability link ${i} is issued by ${short(child.iss)}, but its parent was delegated to ${short(parent.aud)}`);
    }
  }

  for (const link of chain) {
    const id = capabilityId(link);
    for (const did of [link.iss, link.aud]) {
      if (ctx.isRevoked(id, did))
        return refused('revoked', `capability ${id.slice(0, 12)} (issuer ${short(link.iss)}, audience ${short(link.aud)}) is revoked`);
    }
  }

  for (let i = 1; i < chain.length; i++) {
    const parent = chain[i - 1]!;
    const child = chain[i]!;
    const extra = abilitiesNarrow(child.can, parent.can);
    if (extra) return refused('not_attenuated', `capability link ${i} claims '${extra}', which its parent does not grant`);
    if (!selectorNarrows(selectors[i]!, selectors[i - 1]!)) {
      return refused('not_attenuated', `capability link ${i} selects '${child.on}', which is broader than its parent's '${parent.on}'`);
    }
    if (child.nbf < parent.nbf)
      return refused('not_attenuated', `capability link ${i} becomes valid at ${iso(child.nbf)}, before its parent (${iso(parent.nbf)})`);
    if (child.exp > parent.exp) return refused('not_attenuated', `capability link ${i} expires at ${iso(child.exp)}, after its parent (${iso(parent.exp)})`);
    const limits = limitsNarrowProblem(child.limits, parent.limits);
    if (limits !== null) return refused('not_attenuated', `capability link ${i} ${limits}`);
  }

  const leaf = chain[chain.length - 1]!;
  if (leaf.aud !== ctx.invoker) return refused('untrusted_chain', `capability was delegated to ${short(leaf.aud)}, not to the invoker ${short(ctx.invoker)}`);

  const skew = ctx.skewMs ?? DEFAULT_SKEW_MS;
  for (const link of chain) {
    if (link.exp < ctx.now - skew) return refused('expired', `capability expired at ${iso(link.exp)} (host time ${iso(ctx.now)})`);
    if (link.nbf > ctx.now + skew) return refused('not_yet_valid', `capability is not valid before ${iso(link.nbf)} (host time ${iso(ctx.now)})`);
  }

  const vouches = ctx.vouches ?? vouchesForPresent(ctx.hostLabels);
  for (const [i, selector] of selectors.entries()) {
    const unknown = unvouchedKeys(selector, vouches);
    if (unknown.length > 0) return refused('selector_mismatch', unvouchedMessage(unknown, `the capability's selector '${chain[i]!.on}'`));
    if (!matchesSelector(selector, ctx.hostLabels)) {
      return refused('selector_mismatch', `this host does not match the capability's selector '${chain[i]!.on}'`);
    }
  }

  if (!grants(leaf.can, ctx.ability)) return refused('ability_not_granted', `capability grants ${leaf.can.join(', ')}, not '${ctx.ability}'`);
  return { ok: true };
}

import { DEFAULT_SKEW_MS, unvouchedMessage, verifyCapability } from './capability.js';
import type { Ability, Capability, RefusalReason, Verdict } from './remote-ops.js';
import { matchesSelector, parseSelector, unvouchedKeys, vouchesForPresent } from './selector.js';
import type { SignedJobContext } from './signed-job.js';

/**
 * The authority check that signed jobs and signed rollouts share: what was signed once and is
 * acted on later (a service placed again months on, a host that comes back to a rollout) is
 * judged by authority at signing time and revocations as of now.
 */

export function refused(reason: RefusalReason, message: string): Verdict {
  return { ok: false, reason, message };
}

/** A DID short enough for a one-line refusal. */
export function shortDid(did: string): string {
  return did.length > 24 ? `${did.slice(0, 16)}…${did.slice(-6)}` : did;
}

/**
 * Refuses a payload signed in the future (not_yet_valid), then checks the invoker: a fleet root
 * presenting no capability (unknown_issuer otherwise; revoked), or a capability granting
 * `ability` on this host, valid when the payload was signed. `what` names the payload in messages.
 */
export function signedAtAuthority(
  p: { invoker: string; issuedAt: number; capability: Capability | null },
  ctx: SignedJobContext,
  ability: Ability,
  what: string,
): Verdict {
  const skew = ctx.skewMs ?? DEFAULT_SKEW_MS;
  if (p.issuedAt > ctx.now + skew) {
    return refused('not_yet_valid', `${what} is signed at ${new Date(p.issuedAt).toISOString()}, in the future (host time ${new Date(ctx.now).toISOString()})`);
  }
  if (p.capability === null) {
    if (!ctx.roots.includes(p.invoker)) return refused('unknown_issuer', `invoker ${shortDid(p.invoker)} is not a fleet root and presents no capability`);
    if (ctx.isRevoked('', p.invoker)) return refused('revoked', `invoker ${shortDid(p.invoker)} is revoked`);
    return { ok: true };
  }
  return verifyCapability(p.capability, {
    roots: ctx.roots,
    now: p.issuedAt,
    skewMs: skew,
    isRevoked: ctx.isRevoked,
    hostLabels: ctx.hostLabels,
    ...(ctx.vouches ? { vouches: ctx.vouches } : {}),
    ability,
    invoker: p.invoker,
  });
}

/** Whether this host vouches for and matches a selector the payload names (selector_mismatch when not). */
export function hostMatches(text: string, ctx: SignedJobContext, what: string): Verdict {
  let selector: ReturnType<typeof parseSelector>;
  try {
    selector = parseSelector(text);
  } catch (err) {
    return refused('malformed', `${what} has a bad selector: ${(err as Error).message}`);
  }
  const unknown = unvouchedKeys(selector, ctx.vouches ?? vouchesForPresent(ctx.hostLabels));
  if (unknown.length > 0) return refused('selector_mismatch', unvouchedMessage(unknown, `${what} '${text}'`));
  if (!matchesSelector(selector, ctx.hostLabels)) return refused('selector_mismatch', `this host does not match ${what} '${text}'`);
  return { ok: true };
}

import { z } from 'zod';
import { canonicalJson } from './canonical-json.js';
import { keyPairFromPem, signEd25519, verifyEd25519 } from './ed25519.js';
import { FleetError } from './errors.js';
import { AGENT_RELEASE_NAME, BUNDLE_NAME, RELEASE_KINDS, RELEASE_VERSION, releaseRefText, TARGET_PATH } from './release-views.js';
import { hostMatches, refused, shortDid, signedAtAuthority } from './invoker-authority.js';
import { Capability, capabilityDepthExceeds, MAX_CHAIN_DEPTH, type Verdict } from './remote-ops.js';
import { parseSelector } from './selector.js';
import type { SignedJobContext } from './signed-job.js';

/**
 * Signed rollouts (issue 14). Two keys stand between a stolen control plane and a host's code:
 * the TUF targets key signed the release (the host checks it with tuf-js), and an operator holding
 * `release/rollout` for this host signed the rollout naming that exact target (path and sha256).
 * The host refuses a target whose signed hash is not the one in the rollout, so the server can
 * neither swap the release nor send it to hosts the operator did not pick.
 */

const did = z.string().startsWith('did:key:z').max(128);
const epochMs = z.number().int().nonnegative();

export const ROLLOUT_ABILITY = 'release/rollout' as const;

export const RolloutRelease = z
  .strictObject({
    kind: z.enum(RELEASE_KINDS),
    name: z.string().max(64),
    version: z.string().regex(RELEASE_VERSION),
  })
  .refine((r) => (r.kind === 'agent' ? r.name === AGENT_RELEASE_NAME : BUNDLE_NAME.test(r.name)), {
    message: `an agent release is named ${AGENT_RELEASE_NAME}; a bundle's name is lowercase letters, digits and -`,
  });
export type RolloutRelease = z.infer<typeof RolloutRelease>;

/** How the rollout proceeds; the server follows it, the host only checks it is the one signed. */
export const RolloutPlan = z.strictObject({
  /** Hosts updated first, alone; 0 skips the canary step. */
  canary: z.number().int().nonnegative().max(1000),
  /** Cumulative shares of the remaining hosts, ascending, the last 100: e.g. [10, 50, 100]. */
  waves: z
    .array(z.number().int().min(1).max(100))
    .min(1)
    .max(20)
    .refine((w) => w.every((p, i) => i === 0 || p > w[i - 1]!) && w.at(-1) === 100, {
      message: 'waves are ascending percentages ending at 100, e.g. 10,50,100',
    }),
  /** How long every host of a step must stay healthy before the next step starts. */
  healthyForMs: z
    .number()
    .int()
    .nonnegative()
    .max(7 * 24 * 3_600_000),
  /** More failed hosts than this pauses the rollout and rolls the failed hosts back. */
  maxFailures: z.number().int().nonnegative().max(100_000),
});
export type RolloutPlan = z.infer<typeof RolloutPlan>;

export const RolloutPayload = z.strictObject({
  v: z.literal(1),
  release: RolloutRelease,
  /** The exact target the operator saw in the repository: the host refuses any other bytes. */
  target: z.strictObject({ path: z.string().regex(TARGET_PATH), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  /** Which hosts (selector syntax, selector.ts); '' means every host the capability covers. */
  selector: z.string().max(1024),
  plan: RolloutPlan,
  issuedAt: epochMs,
  nonce: z.string().min(16).max(128),
  invoker: did,
  /** The invoker's delegated capability (granting release/rollout); null when the invoker is a fleet root. */
  capability: Capability.nullable(),
});
export type RolloutPayload = z.infer<typeof RolloutPayload>;

export const SignedRollout = z.strictObject({ payload: RolloutPayload, sig: z.string().max(256) });
export type SignedRollout = z.infer<typeof SignedRollout>;

/** The bytes a rollout's signature covers: canonical JSON of its payload. */
export function rolloutSigningInput(payload: RolloutPayload): string {
  return canonicalJson(payload);
}

/** Signs a rollout payload with the invoker's key; throws FleetError('invalid_argument') when it is not valid or the key is not the invoker's. */
export function signRollout(payload: RolloutPayload, privateKeyPem: string): SignedRollout {
  const parsed = RolloutPayload.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FleetError('invalid_argument', `not a valid rollout: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  if (payload.selector !== '') parseSelector(payload.selector); // throws invalid_argument naming the problem
  const keyDid = keyPairFromPem(privateKeyPem).did;
  if (keyDid !== payload.invoker) throw new FleetError('invalid_argument', `the signing key is ${keyDid}, but the rollout's invoker is ${payload.invoker}`);
  return { payload, sig: signEd25519(privateKeyPem, rolloutSigningInput(payload)) };
}

/**
 * Decides whether this host may apply a signed rollout. Checks, in order, refusing with the
 * first failure: shape (malformed), the invoker's signature (bad_signature), the issue time not
 * in the future (not_yet_valid), the invoker's authority (a fleet root, or a capability granting
 * release/rollout on this host, valid when the rollout was signed; revocations as of now), and
 * the rollout's selector, which this host must vouch for and match (selector_mismatch). The
 * target itself is checked after TUF verification (rolloutTargetProblem).
 */
export function verifySignedRollout(rollout: unknown, ctx: SignedJobContext): Verdict {
  if (capabilityDepthExceeds((rollout as { payload?: { capability?: unknown } } | null)?.payload?.capability)) {
    return refused('malformed', `capability chain is deeper than ${MAX_CHAIN_DEPTH} links`);
  }
  const parsed = SignedRollout.safeParse(rollout);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return refused('malformed', `rollout is malformed: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  const { payload, sig } = parsed.data;
  const what = `rollout of ${releaseRefText(payload.release)}`;
  if (!verifyEd25519(payload.invoker, rolloutSigningInput(payload), sig)) {
    return refused(
      'bad_signature',
      `${what} does not carry a valid signature by its invoker ${shortDid(payload.invoker)}: it was changed after signing, or signed by another key`,
    );
  }
  const authority = signedAtAuthority(payload, ctx, ROLLOUT_ABILITY, what);
  if (!authority.ok) return authority;
  if (payload.selector !== '') return hostMatches(payload.selector, ctx, `${what}'s selector`);
  return { ok: true };
}

/**
 * Whether the target tuf-js verified is the one the rollout was signed for (release_refused
 * when not). Call with the TUF-verified path and sha256 after verifySignedRollout.
 */
export function rolloutTargetProblem(payload: RolloutPayload, verified: { path: string; sha256: string }): Verdict {
  if (verified.path !== payload.target.path) {
    return refused('release_refused', `the rollout names target ${payload.target.path}, but ${verified.path} was fetched`);
  }
  if (verified.sha256 !== payload.target.sha256) {
    return refused(
      'release_refused',
      `${payload.target.path} is signed in the repository with sha256 ${verified.sha256.slice(0, 12)}…, but the rollout was signed for ${payload.target.sha256.slice(0, 12)}…`,
    );
  }
  return { ok: true };
}

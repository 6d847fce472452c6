import {
  FleetError,
  ROLLOUT_ABILITY,
  SignedRollout,
  capabilityDepthExceeds,
  releaseRefText,
  releaseTargetPath,
  rolloutSigningInput,
  verifyCapability,
  verifyEd25519,
  type Labels,
} from '@gpufleet/protocol';
import { labelsSatisfying } from '../trust/selector-witness.js';

/** What the server knows of trust when it takes a signed rollout. */
export interface RolloutTrust {
  roots(): readonly string[];
  isRevoked(capId: string, did: string): boolean;
}

function short(did: string): string {
  return did.length > 24 ? `${did.slice(0, 16)}…${did.slice(-6)}` : did;
}

/**
 * Checks a submitted rollout before anything is stored, as the job submit does: its shape and
 * naming (400), its signature by its invoker (400), its issue time (400), and the invoker's
 * authority to roll out releases somewhere (403: neither a fleet root nor holding a capability
 * granting release/rollout). Every host checks all of this again for itself.
 */
export function checkSignedRollout(value: unknown, trust: RolloutTrust, now: number, futureSkewMs = 5 * 60_000): SignedRollout {
  if (capabilityDepthExceeds((value as { payload?: { capability?: unknown } } | null)?.payload?.capability)) {
    throw new FleetError('invalid_argument', 'the rollout’s capability chain is too deep');
  }
  const parsed = SignedRollout.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FleetError('invalid_argument', `not a valid signed rollout: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  const signed = parsed.data;
  const p = signed.payload;
  const what = `rollout of ${releaseRefText(p.release)}`;
  if (p.target.path !== releaseTargetPath(p.release)) {
    throw new FleetError('invalid_argument', `${what} names target ${p.target.path}, but that release lives at ${releaseTargetPath(p.release)}`);
  }
  if (!verifyEd25519(p.invoker, rolloutSigningInput(p), signed.sig)) {
    throw new FleetError(
      'invalid_argument',
      `${what} does not carry a valid signature by its invoker ${short(p.invoker)}: it was changed after signing, or signed by another key`,
      {
        details: { reason: 'bad_signature' },
      },
    );
  }
  if (p.issuedAt > now + futureSkewMs) {
    throw new FleetError(
      'invalid_argument',
      `${what} is signed at ${new Date(p.issuedAt).toISOString()}, in the future: check the clock of the machine that signed it`,
      {
        details: { reason: 'not_yet_valid' },
      },
    );
  }
  const roots = trust.roots();
  if (p.capability === null) {
    if (!roots.includes(p.invoker))
      throw new FleetError(
        'permission_denied',
        `${what} refused: invoker ${short(p.invoker)} is not a fleet root and presents no capability granting ${ROLLOUT_ABILITY}`,
        {
          details: { reason: 'unknown_issuer' },
        },
      );
    if (trust.isRevoked('', p.invoker))
      throw new FleetError('permission_denied', `${what} refused: invoker ${short(p.invoker)} is revoked`, { details: { reason: 'revoked' } });
    return signed;
  }
  // Does the grant hold on some host? Which hosts is hostAccepts' business.
  const labels = labelsSatisfying(p.capability.on);
  const verdict =
    labels === null
      ? { ok: false as const, reason: 'selector_mismatch', message: `the capability's selector '${p.capability.on}' can match no host` }
      : verifyCapability(p.capability, {
          roots,
          now: p.issuedAt,
          isRevoked: trust.isRevoked,
          hostLabels: labels,
          vouches: () => true,
          ability: ROLLOUT_ABILITY,
          invoker: p.invoker,
        });
  if (!verdict.ok)
    throw new FleetError('permission_denied', `${what} refused (${verdict.reason}): ${verdict.message}`, { details: { reason: verdict.reason } });
  return signed;
}

/**
 * Whether a host with these labels (as the server knows them) would take a rollout that passed
 * checkSignedRollout and whose selector it matches: the capability's reach on this host (a fleet
 * root reaches every host). The rollout's own signature is not checked again for each host.
 * Labels are taken as vouched for here; the host insists on its own attestations and refuses
 * what it cannot vouch for (reported as refused).
 */
export function hostAccepts(signed: SignedRollout, labels: Labels, trust: RolloutTrust): boolean {
  const p = signed.payload;
  if (p.capability === null) return true;
  return verifyCapability(p.capability, {
    roots: trust.roots(),
    now: p.issuedAt,
    isRevoked: trust.isRevoked,
    hostLabels: labels,
    vouches: () => true,
    ability: ROLLOUT_ABILITY,
    invoker: p.invoker,
  }).ok;
}

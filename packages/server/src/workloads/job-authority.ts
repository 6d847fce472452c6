import {
  FleetError,
  SignedJob,
  WORKLOAD_ABILITY,
  capabilityDepthExceeds,
  jobSigningInput,
  verifyCapability,
  verifyEd25519,
  type Verdict,
} from '@gpufleet/protocol';
import { labelsSatisfying } from '../trust/selector-witness.js';

/** What the server knows of trust when it takes a signed job. */
export interface JobAuthorityContext {
  roots(): readonly string[];
  isRevoked(capId: string, did: string): boolean;
  now: number;
  /** How far in the future issuedAt may be (the signer's clock skew). */
  futureSkewMs: number;
}

function short(did: string): string {
  return did.length > 24 ? `${did.slice(0, 16)}…${did.slice(-6)}` : did;
}

/**
 * Checks a submitted job before anything is stored: its shape (400), its signature by its invoker
 * (400: changed after signing, or signed by another key), its issue time, and the invoker's
 * authority to run workloads (403: neither a fleet root nor holding a capability that grants
 * workload/run). Hosts judge all of this again for themselves, against their own labels; the
 * server checks early so an operator hears why at once instead of from every host.
 */
export function checkSubmittedJob(value: unknown, ctx: JobAuthorityContext): SignedJob {
  if (capabilityDepthExceeds((value as { payload?: { capability?: unknown } } | null)?.payload?.capability)) {
    throw new FleetError('invalid_argument', 'the job\u2019s capability chain is too deep');
  }
  const parsed = SignedJob.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FleetError('invalid_argument', `not a valid signed job: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  const signed = parsed.data;
  const p = signed.payload;
  if (!verifyEd25519(p.invoker, jobSigningInput(p), signed.sig)) {
    throw new FleetError(
      'invalid_argument',
      `job ${p.job.name} does not carry a valid signature by its invoker ${short(p.invoker)}: it was changed after signing, or signed by another key`,
      { details: { reason: 'bad_signature' } },
    );
  }
  if (p.issuedAt > ctx.now + ctx.futureSkewMs) {
    throw new FleetError(
      'invalid_argument',
      `job ${p.job.name} is signed at ${new Date(p.issuedAt).toISOString()}, in the future: check the clock of the machine that signed it`,
      { details: { reason: 'not_yet_valid' } },
    );
  }
  const verdict = workloadAuthority(signed, ctx);
  if (!verdict.ok) {
    throw new FleetError('permission_denied', `job ${p.job.name} refused (${verdict.reason}): ${verdict.message}`, { details: { reason: verdict.reason } });
  }
  return signed;
}

/**
 * Whether the invoker may run workloads somewhere: a fleet root (not revoked), or a capability
 * granting workload/run that verified when the job was signed, on some host its selectors allow
 * (which hosts is the scheduler's business: placementSpec adds the selectors to the job's constraints).
 */
export function workloadAuthority(signed: SignedJob, ctx: Pick<JobAuthorityContext, 'roots' | 'isRevoked'>): Verdict {
  const p = signed.payload;
  const roots = ctx.roots();
  if (p.capability === null) {
    if (!roots.includes(p.invoker))
      return {
        ok: false,
        reason: 'unknown_issuer',
        message: `invoker ${short(p.invoker)} is not a fleet root and presents no capability granting ${WORKLOAD_ABILITY}`,
      };
    if (ctx.isRevoked('', p.invoker)) return { ok: false, reason: 'revoked', message: `invoker ${short(p.invoker)} is revoked` };
    return { ok: true };
  }
  // Labels the leaf's selector matches (each link narrows its parent): does the grant hold on some host?
  const labels = labelsSatisfying(p.capability.on);
  if (labels === null) return { ok: false, reason: 'selector_mismatch', message: `the capability's selector '${p.capability.on}' can match no host` };
  return verifyCapability(p.capability, {
    roots,
    now: p.issuedAt,
    isRevoked: ctx.isRevoked,
    hostLabels: labels,
    vouches: () => true,
    ability: WORKLOAD_ABILITY,
    invoker: p.invoker,
  });
}

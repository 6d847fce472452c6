import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from './canonical-json.js';
import { keyPairFromPem, signEd25519, verifyEd25519 } from './ed25519.js';
import { FleetError } from './errors.js';
import { JobSpec, allocName } from './job-spec.js';
import { hostMatches, refused, shortDid, signedAtAuthority } from './invoker-authority.js';
import { Capability, capabilityDepthExceeds, MAX_CHAIN_DEPTH, type Verdict } from './remote-ops.js';
import type { Labels, VouchesFor } from './selector.js';

/**
 * Signed workloads (issue 10). The operator signs the normalized job spec (job-spec.ts); the
 * control plane chooses where each allocation runs and which GPUs it gets, but cannot change
 * what runs: the host verifies the signature, the invoker's `workload/run` authority for this
 * host, that the host matches the job's constraints, and that the placement it is handed fits
 * the signed spec (placementProblem) before it starts anything.
 *
 * Authority is judged at signing time, revocation now: a service placed again months later
 * (its node died) still starts although the capability it was signed under has since expired,
 * but never once that capability or key is revoked.
 */

const did = z.string().startsWith('did:key:z').max(128);
const epochMs = z.number().int().nonnegative();

export const WORKLOAD_ABILITY = 'workload/run' as const;

export const JobPayload = z.strictObject({
  v: z.literal(1),
  job: JobSpec,
  issuedAt: epochMs,
  nonce: z.string().min(16).max(128),
  invoker: did,
  /** The invoker's delegated capability (granting workload/run); null when the invoker is a fleet root. */
  capability: Capability.nullable(),
});
export type JobPayload = z.infer<typeof JobPayload>;

export const SignedJob = z.strictObject({ payload: JobPayload, sig: z.string().max(256) });
export type SignedJob = z.infer<typeof SignedJob>;

/** The bytes a job's signature covers: canonical JSON of its payload. */
export function jobSigningInput(payload: JobPayload): string {
  return canonicalJson(payload);
}

/**
 * What a job version runs: SHA-256 (hex) of the canonical spec. Two submissions of the same
 * file are the same version; any change to what runs is a new one. Stop instructions name it,
 * so a host never stops an allocation of a newer version on a stale order.
 */
export function jobSpecHash(spec: JobSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

/** Signs a job payload with the invoker's key; throws FleetError('invalid_argument') when it is not valid or the key is not the invoker's. */
export function signJob(payload: JobPayload, privateKeyPem: string): SignedJob {
  const parsed = JobPayload.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FleetError('invalid_argument', `not a valid job payload: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`);
  }
  const keyDid = keyPairFromPem(privateKeyPem).did;
  if (keyDid !== payload.invoker) throw new FleetError('invalid_argument', `the signing key is ${keyDid}, but the job's invoker is ${payload.invoker}`);
  return { payload, sig: signEd25519(privateKeyPem, jobSigningInput(payload)) };
}

/** What a host knows when it judges a signed job. */
export interface SignedJobContext {
  roots: readonly string[];
  now: number;
  skewMs?: number;
  isRevoked: (capId: string, did: string) => boolean;
  hostLabels: Labels;
  vouches?: VouchesFor;
}

/**
 * Decides whether this host may run allocations of a signed job. Checks, in order, refusing
 * with the first failure: shape (malformed), the invoker's signature (bad_signature), the issue
 * time not in the future (not_yet_valid), the invoker's authority: a fleet root (unknown_issuer,
 * revoked) or a capability granting workload/run on this host, valid when the job was signed
 * (see verifyCapability), and the job's constraints, each a selector this host must vouch for
 * and match (selector_mismatch).
 */
export function verifySignedJob(job: unknown, ctx: SignedJobContext): Verdict {
  if (capabilityDepthExceeds((job as { payload?: { capability?: unknown } } | null)?.payload?.capability)) {
    return refused('malformed', `capability chain is deeper than ${MAX_CHAIN_DEPTH} links`);
  }
  const parsed = SignedJob.safeParse(job);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return refused('malformed', `job is malformed: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  const { payload, sig } = parsed.data;
  const name = payload.job.name;
  if (!verifyEd25519(payload.invoker, jobSigningInput(payload), sig)) {
    return refused(
      'bad_signature',
      `job ${name} does not carry a valid signature by its invoker ${shortDid(payload.invoker)}: it was changed after signing, or signed by another key`,
    );
  }
  const authority = signedAtAuthority(payload, ctx, WORKLOAD_ABILITY, `job ${name}`);
  if (!authority.ok) return authority;
  for (const text of payload.job.constraints) {
    const verdict = hostMatches(text, ctx, `job ${name}'s constraint`);
    if (!verdict.ok) return verdict;
  }
  return { ok: true };
}

/** One GPU handed to an allocation: the host checks it has this GPU at this index. */
export const AssignedGpu = z.strictObject({ index: z.number().int().nonnegative().max(1023), uuid: z.string().max(128).nullable() });
export type AssignedGpu = z.infer<typeof AssignedGpu>;

export const ALLOC_ID = /^[A-Za-z0-9_-]{8,64}$/;

/** The server's choice for one allocation: which job version, which of its allocations, on which GPUs of this host. */
export const AllocPlacement = z.strictObject({
  allocId: z.string().regex(ALLOC_ID),
  /** The server's version number of the job (for people); the host acts on the signed spec and its hash. */
  jobVersion: z.number().int().positive(),
  group: z.string().max(64),
  index: z.number().int().nonnegative(),
  gpus: z.array(AssignedGpu).max(64),
  job: SignedJob,
});
export type AllocPlacement = z.infer<typeof AllocPlacement>;

/** What a host knows of itself when it judges a placement. */
export interface PlacementContext {
  nodeId: string;
  hostname: string;
  /** This host's GPUs as it reads them now. */
  gpus: readonly { index: number; uuid: string | null }[];
  /** GPUs (by index) held by other allocations running here. */
  heldByOthers: (gpuIndex: number) => string | null;
}

/**
 * Whether a placement fits the signed job it carries and this host (placement_invalid when not):
 * the group exists, the index is below its count, the pin (if any) names this host, the number
 * of GPUs is what the spec asks for, each exists here with the UUID named, none is named twice,
 * and none is held by another allocation on this host. Call after verifySignedJob.
 */
export function placementProblem(p: AllocPlacement, ctx: PlacementContext): Verdict {
  const spec = p.job.payload.job;
  const group = Object.hasOwn(spec.allocations, p.group) ? spec.allocations[p.group] : undefined;
  if (!group) return refused('placement_invalid', `job ${spec.name} has no allocation group '${p.group}'`);
  const name = allocName(p.group, p.index);
  if (p.index >= group.count)
    return refused('placement_invalid', `job ${spec.name} asks for ${group.count} '${p.group}' allocations; ${name} is not one of them`);
  const pinned = Object.hasOwn(spec.pin, name) ? spec.pin[name] : undefined;
  if (pinned !== undefined && pinned !== ctx.hostname && pinned !== ctx.nodeId) {
    return refused('placement_invalid', `job ${spec.name} pins ${name} to '${pinned}', not to this host (${ctx.hostname})`);
  }
  if (p.gpus.length !== group.resources.gpus) {
    return refused('placement_invalid', `${spec.name}/${name} needs ${group.resources.gpus} GPU(s) but was given ${p.gpus.length}`);
  }
  const seen = new Set<number>();
  for (const g of p.gpus) {
    if (seen.has(g.index)) return refused('placement_invalid', `GPU ${g.index} is given to ${spec.name}/${name} twice`);
    seen.add(g.index);
    const here = ctx.gpus.find((h) => h.index === g.index);
    if (!here) return refused('placement_invalid', `this host has no GPU ${g.index}`);
    if (here.uuid !== g.uuid) return refused('placement_invalid', `GPU ${g.index} here is ${here.uuid ?? 'without a UUID'}, not ${g.uuid ?? 'without a UUID'}`);
    const holder = ctx.heldByOthers(g.index);
    if (holder !== null && holder !== p.allocId) return refused('placement_invalid', `GPU ${g.index} is held by allocation ${holder}`);
  }
  return { ok: true };
}

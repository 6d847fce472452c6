import type { Capability, JobPayload, JobSpec, SignedJob } from '@gpufleet/protocol';
import { base64urlEncode } from '../../../../protocol/src/base64url.js';
import { canonicalJson } from '../../../../protocol/src/canonical-json.js';
import { newCommandNonce } from '../../../../protocol/src/command-payload.js';

/*
 * The browser's half of `gpufleet jobs run`: the job payload the CLI signs ({v: 1, job, issuedAt,
 * nonce, invoker, capability}), signed over the same bytes (canonical JSON of the payload) with
 * the same encoding (Ed25519, base64url). The spec is the server's normalized reading of the job
 * file (POST /jobs/parse): the operator sees it before signing, and every host verifies it, so the
 * server can say how a file reads but not change what runs unseen. The browser has no zod, so only
 * the spec's outline is checked here; the server and every host check all of it again.
 */

/** The ability a job's capability must grant. */
export const WORKLOAD_ABILITY = 'workload/run';

/** Why this value cannot be signed as a job spec, or null when its outline is right. */
export function jobSpecProblem(spec: unknown): string | null {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return 'the job spec is not an object';
  const s = spec as Record<string, unknown>;
  if (typeof s.name !== 'string' || s.name === '') return 'the job spec has no name';
  if (s.allocations === null || typeof s.allocations !== 'object' || Array.isArray(s.allocations) || Object.keys(s.allocations).length === 0)
    return `job ${s.name} has no allocation groups`;
  return null;
}

/** The payload to sign for `spec` by `invoker`: a fresh nonce, issued `now`. Throws an Error naming what is wrong. */
export function draftJobPayload(spec: JobSpec, invoker: string, capability: Capability | null, now: number): JobPayload {
  const problem = jobSpecProblem(spec);
  if (problem) throw new Error(problem);
  return { v: 1, job: spec, issuedAt: now, nonce: newCommandNonce(), invoker, capability };
}

/** Signs the job payload's canonical JSON with a WebCrypto Ed25519 key; the signature is base64url, as hosts expect. */
export async function signJobPayload(privateKey: CryptoKey, payload: JobPayload): Promise<SignedJob> {
  const message = new TextEncoder().encode(canonicalJson(payload));
  const sig = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, privateKey, message));
  return { payload, sig: base64urlEncode(sig) };
}

/** SHA-256 (hex) of the spec's canonical JSON: the job version's hash, as the server and hosts compute it. */
export async function jobSpecHashOf(spec: unknown): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonicalJson(spec))));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

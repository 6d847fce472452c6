import { capabilityChain, type JobSpec, type SignedJob } from '@gpufleet/protocol';

/**
 * The spec the scheduler places: the signed spec with the selectors of the invoker's capability
 * chain added to its constraints. A host outside any of them would refuse the allocation
 * (verifySignedJob checks the chain against the host's labels), so placing it there would only
 * cost a refusal and a retry. The signed spec itself, delivered to hosts, is never changed.
 */
export function placementSpec(signed: SignedJob): JobSpec {
  const spec = signed.payload.job;
  const cap = signed.payload.capability;
  if (cap === null) return spec;
  const extra = capabilityChain(cap)
    .map((link) => link.on.trim())
    .filter((on) => on !== '' && on !== '*' && !spec.constraints.includes(on));
  return extra.length === 0 ? spec : { ...spec, constraints: [...spec.constraints, ...new Set(extra)] };
}

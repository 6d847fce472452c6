import { allocName, placementProblem, verifySignedJob, type AllocPlacement, type GpuVendor, type RefusalReason, type Verdict } from '@gpufleet/protocol';
import type { HostLabelView } from '../exec/attested-labels.js';
import type { ExecutorGpu, ExecutorStart } from './executor.js';
import { GPU_VISIBILITY_VARS, gpuVisibilityEnv } from './gpu-visibility.js';

/** A GPU of this host as its latest readout shows it. */
export interface HostGpu {
  index: number;
  uuid: string | null;
  vendor: GpuVendor;
  pciBusId: string | null;
}

/** What the host knows when it judges a start order. */
export interface StartContext {
  /** The remote-operations trust state (the TrustStore), so roots and revocations apply as for commands. */
  trust: { roots: readonly string[]; skewMs: number; isRevoked: (capId: string, did: string) => boolean };
  /** This host's labels and the keys it vouches for (TrustStore.labelView over its own labels). */
  labels: HostLabelView;
  now: number;
  nodeId: string;
  hostname: string;
  gpus: readonly HostGpu[];
  /** Which allocation (other than this one) holds a GPU here, or null. */
  heldByOthers: (gpuIndex: number) => string | null;
  /** Executor kinds this host has. */
  executors: ReadonlySet<string>;
}

export type StartVerdict = { ok: true; gpus: ExecutorGpu[] } | { ok: false; reason: RefusalReason; message: string };

/**
 * Decides whether this host may start a placement, before anything starts: the signed job
 * (signature, the invoker's workload/run authority for this host, revocations, the job's
 * constraints against the labels this host vouches for), then the placement against the job
 * and this host (group, index, pin, GPU count, each GPU here with the UUID named, none held by
 * another allocation), then whether this host has the executor. The first failure is the answer.
 */
export function judgeStart(placement: AllocPlacement, ctx: StartContext): StartVerdict {
  const job = verifySignedJob(placement.job, {
    roots: ctx.trust.roots,
    now: ctx.now,
    skewMs: ctx.trust.skewMs,
    isRevoked: ctx.trust.isRevoked,
    hostLabels: ctx.labels.labels,
    vouches: ctx.labels.vouches,
  });
  if (!job.ok) return job;
  const fits: Verdict = placementProblem(placement, {
    nodeId: ctx.nodeId,
    hostname: ctx.hostname,
    gpus: ctx.gpus,
    heldByOthers: ctx.heldByOthers,
  });
  if (!fits.ok) return fits;
  const spec = placement.job.payload.job;
  const group = spec.allocations[placement.group]!;
  if (!ctx.executors.has(group.executor)) {
    return {
      ok: false,
      reason: 'unsupported',
      message: `this host has no ${group.executor} executor for ${spec.name}/${allocName(placement.group, placement.index)}`,
    };
  }
  const gpus = placement.gpus.map((g) => {
    const here = ctx.gpus.find((h) => h.index === g.index)!;
    return { index: g.index, uuid: g.uuid, vendor: here.vendor, pciBusId: here.pciBusId };
  });
  return { ok: true, gpus };
}

/**
 * What an executor is handed: built only from the signed spec's group and the placement's
 * GPUs. The environment is the spec's without any GPU visibility variable (those are the
 * placement's to decide: a spec must not widen its GPUs to ones another allocation holds), then
 * the allocation's identity (GPUFLEET_ALLOC_ID, GPUFLEET_JOB, GPUFLEET_ALLOC_NAME) and the
 * visibility variables of its GPUs.
 */
export function executorStart(placement: AllocPlacement, specHash: string, gpus: readonly ExecutorGpu[]): ExecutorStart {
  const spec = placement.job.payload.job;
  const group = spec.allocations[placement.group]!;
  const name = allocName(placement.group, placement.index);
  const own = Object.fromEntries(Object.entries(group.env).filter(([k]) => !GPU_VISIBILITY_VARS.includes(k) && !k.startsWith('GPUFLEET_')));
  const env: Record<string, string> = {
    ...own,
    GPUFLEET_ALLOC_ID: placement.allocId,
    GPUFLEET_JOB: spec.name,
    GPUFLEET_ALLOC_NAME: name,
    ...gpuVisibilityEnv(gpus, group.executor === 'container' ? 'container' : 'host'),
  };
  return {
    allocId: placement.allocId,
    job: spec.name,
    name,
    group: placement.group,
    jobVersion: placement.jobVersion,
    specHash,
    spec: group,
    gpus: gpus.map((g) => ({ ...g })),
    env,
  };
}

import {
  allocName,
  type AllocationView,
  type DeploymentView,
  type JobSpec,
  type JobStatus,
  type JobSummaryView,
  type JobVersionView,
} from '@gpufleet/protocol';
import type { AllocationRecord, DeploymentRecord, JobRecord, JobVersionRecord } from '../store/workload-records.js';
import { isFinalStatus } from './alloc-reports.js';
import type { JobSnapshot } from './job-evaluation.js';
import { canariesOf } from './rollout.js';
import { settled } from './settled.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** A GPU's model name on its node (the inventory's), for views. */
export type GpuNameOf = (nodeId: string, gpuIndex: number) => string | null;

export function allocationView(a: AllocationRecord, gpuName: GpuNameOf): AllocationView {
  return {
    id: a.id,
    job: a.job,
    jobVersion: a.jobVersion,
    group: a.group,
    index: a.index,
    name: allocName(a.group, a.index),
    nodeId: a.nodeId,
    hostname: a.hostname,
    desired: a.desired,
    status: a.status,
    healthy: a.healthy,
    restarts: a.restarts,
    exitCode: a.exitCode,
    message: a.message,
    gpus: a.gpus.map((g) => ({ index: g.index, uuid: g.uuid, name: gpuName(a.nodeId, g.index) })),
    replaces: a.replaces,
    replacedBy: a.replacedBy,
    stopCause: a.stopCause,
    createdAt: iso(a.createdAt),
    updatedAt: iso(a.updatedAt),
  };
}

function slotCount(spec: JobSpec): number {
  let n = 0;
  for (const g of Object.values(spec.allocations)) n += g.count;
  return n;
}

/**
 * The job's status from its allocations: stopped by an operator; complete (batch, every slot
 * exited 0); running (every slot running or complete); failed (every slot out of replacements);
 * pending (nothing running yet); degraded otherwise.
 */
export function jobStatus(job: JobRecord, spec: JobSpec, allocs: Iterable<AllocationRecord>, exhausted: readonly string[]): JobStatus {
  if (job.state === 'stopped') return 'stopped';
  const total = slotCount(spec);
  const running = new Set<string>();
  const complete = new Set<string>();
  for (const a of allocs) {
    if (a.desired !== 'run') continue;
    const group = spec.allocations[a.group];
    if (!group || a.index >= group.count) continue;
    const name = allocName(a.group, a.index);
    if (a.status === 'running') running.add(name);
    else if (a.status === 'complete') complete.add(name);
  }
  if (job.kind === 'batch' && complete.size === total) return 'complete';
  if (running.size + complete.size === total && total > 0) return 'running';
  if (exhausted.length >= total && total > 0) return 'failed';
  if (running.size === 0 && complete.size === 0) return 'pending';
  return 'degraded';
}

export function jobSummaryView(job: JobRecord, spec: JobSpec, allocs: readonly AllocationRecord[], exhausted: readonly string[]): JobSummaryView {
  let running = 0;
  let gpus = 0;
  for (const a of allocs) {
    if (a.desired === 'run' && a.status === 'running') running++;
    if (!isFinalStatus(a.status)) gpus += a.gpus.length;
  }
  return {
    name: job.name,
    kind: job.kind,
    status: jobStatus(job, spec, allocs, exhausted),
    version: job.currentVersion,
    desired: job.state === 'stopped' ? 0 : slotCount(spec),
    running,
    gpus,
    submittedBy: job.submittedBy,
    createdAt: iso(job.createdAt),
    updatedAt: iso(job.updatedAt),
  };
}

export function jobVersionView(v: JobVersionRecord): JobVersionView {
  return { version: v.version, specHash: v.specHash, invoker: v.invoker, submittedBy: v.submittedBy, submittedAt: iso(v.submittedAt), status: v.status };
}

/** The deployment with its progress: canary slots, new allocations placed, and those settled (healthy for healthy_for). */
export function deploymentView(d: DeploymentRecord, snap: JobSnapshot, now: number): DeploymentView {
  const target = d.toVersion === snap.current.version ? snap.current.spec : null;
  let canaries = 0;
  let placed = 0;
  let healthy = 0;
  if (target) {
    const perGroup = canariesOf(snap, d);
    const older = snap.allocations.some((a) => a.desired === 'run' && a.jobVersion !== d.toVersion);
    if (older || d.state === 'running') for (const g of Object.keys(target.allocations)) canaries += perGroup(g);
    for (const a of snap.allocations) {
      if (a.jobVersion !== d.toVersion || a.createdAt < d.startedAt) continue;
      placed++;
      if (a.desired === 'run' && settled(a, target.update.healthy_for, now)) healthy++;
    }
  }
  return {
    fromVersion: d.fromVersion,
    toVersion: d.toVersion,
    state: d.state,
    canaries,
    placed,
    healthy,
    message: d.message,
    startedAt: iso(d.startedAt),
    finishedAt: d.finishedAt === null ? null : iso(d.finishedAt),
  };
}

import { randomBytes } from 'node:crypto';
import {
  JobSpec,
  jobSpecHash,
  signJob,
  type AgentEvent,
  type AllocHostState,
  type AllocPlacement,
  type AllocStateData,
  type AssignedGpu,
  type Capability,
  type Ed25519KeyPair,
  type GroupSpec,
  type JobPayload,
  type SignedJob,
} from '@gpufleet/protocol';
import type { FakeControlPlane, FakeNode } from './fake-control-plane.js';
import { stubGpu } from './stub-backend.js';

/**
 * Helpers for workload tests: job specs with every default filled, signed jobs, placements on
 * the StubBackend's host (stub-host, two NVIDIA H100: index 0 and 1), alloc frames, and waiting
 * for an allocation's events at the FakeControlPlane.
 */

/** A normalized job: one group `web` of 2 process allocations, 1 GPU each, quick restarts. */
export function jobSpec(group: Partial<GroupSpec> = {}, job: Partial<Omit<JobSpec, 'allocations'>> = {}): JobSpec {
  return JobSpec.parse({
    name: 'llama',
    kind: 'service',
    allocations: {
      web: {
        count: 2,
        executor: 'process',
        command: ['sleep', '60'],
        env: { MODEL: 'llama-3-8b' },
        resources: { gpus: 1 },
        restart: { attempts: 2, within: 600_000, delay: 50 },
        stop_grace: 2000,
        ...group,
      },
    },
    constraints: [],
    strategy: 'binpack',
    pin: {},
    update: { max_parallel: 1, canary: 0, healthy_for: 1000, auto_revert: false, deadline: 60_000 },
    reschedule: { offline_grace: 120_000 },
    ...job,
  });
}

/** The job signed by `key` (its invoker), under `capability` when it is not a root. */
export function signedJob(key: Ed25519KeyPair, job: JobSpec, capability: Capability | null = null, over: Partial<JobPayload> = {}): SignedJob {
  return signJob({ v: 1, job, issuedAt: Date.now(), nonce: randomBytes(16).toString('hex'), invoker: key.did, capability, ...over }, key.privateKeyPem);
}

/** The stub host's GPU at `index`, as a placement names it. */
export function stubAssigned(index: number): AssignedGpu {
  return { index, uuid: stubGpu(index).uuid };
}

let counter = 0;

/** A fresh allocation id. */
export function newAllocId(): string {
  return `alloc-${++counter}-${randomBytes(4).toString('hex')}`;
}

/** A placement of `job` (group web, index 0, GPU 0 of the stub host unless told otherwise). */
export function placementOf(job: SignedJob, over: Partial<AllocPlacement> = {}): AllocPlacement {
  return { allocId: newAllocId(), jobVersion: 1, group: 'web', index: 0, gpus: [stubAssigned(0)], job, ...over };
}

export function startAlloc(cp: FakeControlPlane, nodeId: string, placement: AllocPlacement | Record<string, unknown>): void {
  cp.sendTo(nodeId, { t: 'alloc', body: { op: 'start', placement } });
}

export function stopAlloc(cp: FakeControlPlane, nodeId: string, allocId: string, specHash: string, reason = 'test'): void {
  cp.sendTo(nodeId, { t: 'alloc', body: { op: 'stop', allocId, specHash, reason } });
}

export function hashOf(p: AllocPlacement): string {
  return jobSpecHash(p.job.payload.job);
}

/** The alloc-state reports of one allocation that reached the server, in order. */
export function allocStates(node: FakeNode, allocId: string): AllocStateData[] {
  return node.events
    .filter((e) => e.body.kind === 'alloc-state' && (e.body.data as { allocId?: unknown }).allocId === allocId)
    .map((e) => e.body.data as AllocStateData);
}

/** The output of one allocation that reached the server, per stream, in chunk order. */
export function allocOutput(node: FakeNode, allocId: string): { stdout: string; stderr: string; chunks: AgentEvent[] } {
  const chunks = node.events.filter((e) => e.body.kind === 'alloc-output' && (e.body.data as { allocId?: unknown }).allocId === allocId).map((e) => e.body);
  const text = (stream: string) =>
    chunks
      .map((c) => c.data as { stream: string; chunk: number; data: string })
      .filter((d) => d.stream === stream)
      .sort((a, b) => a.chunk - b.chunk)
      .map((d) => d.data)
      .join('');
  return { stdout: text('stdout'), stderr: text('stderr'), chunks };
}

/** Waits until the allocation has reported `state` `count` times; returns that report. */
export async function waitForAllocState(
  cp: FakeControlPlane,
  node: FakeNode,
  allocId: string,
  state: AllocHostState,
  opts: { count?: number; timeoutMs?: number; where?: (d: AllocStateData) => boolean } = {},
): Promise<AllocStateData> {
  const matching = () => allocStates(node, allocId).filter((d) => d.state === state && (opts.where?.(d) ?? true));
  await cp.waitFor(`${opts.count ?? 1} '${state}' report(s) of ${allocId}`, () => matching().length >= (opts.count ?? 1), opts.timeoutMs ?? 15_000);
  return matching()[(opts.count ?? 1) - 1]!;
}

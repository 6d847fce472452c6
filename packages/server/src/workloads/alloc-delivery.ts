import { FleetError, MAX_FRAME_BYTES, type AllocFrame, type ServerFrame, type SignedJob } from '@gpufleet/protocol';
import type { AllocationRecord } from '../store/workload-records.js';

/** How frames reach hosts: the agent session table (gateway/agent-sessions.ts). */
export interface FrameSender {
  sendToNode(nodeId: string, frame: ServerFrame): boolean;
}

/** The `alloc` frame that starts an allocation: the server's placement and the signed job, verbatim. */
export function startFrame(a: AllocationRecord, signed: SignedJob): AllocFrame {
  return {
    t: 'alloc',
    body: { op: 'start', placement: { allocId: a.id, jobVersion: a.jobVersion, group: a.group, index: a.index, gpus: a.gpus, job: signed } },
  };
}

/**
 * Refuses a job whose start frames would be over what an agent accepts (it closes its link on such
 * a frame, and the start would be resent on every reconnect): measured on the largest placement
 * the job can have (its most GPUs, long ids).
 */
export function checkStartFrameSize(signed: SignedJob): void {
  const spec = signed.payload.job;
  const maxGpus = Math.max(0, ...Object.values(spec.allocations).map((g) => g.resources.gpus));
  const probe = startFrame(
    {
      id: 'x'.repeat(64),
      jobVersion: 1_000_000,
      group: 'g'.repeat(32),
      index: 10_000,
      nodeId: '',
      gpus: Array.from({ length: maxGpus }, (_, i) => ({ index: 1000 + i, uuid: `GPU-${'0'.repeat(36)}` })),
    } as AllocationRecord,
    signed,
  );
  const bytes = Buffer.byteLength(JSON.stringify(probe), 'utf8');
  if (bytes > MAX_FRAME_BYTES) {
    throw new FleetError(
      'invalid_argument',
      `job ${spec.name}'s start frame would be ${bytes.toLocaleString('en-US')} bytes, over the ${MAX_FRAME_BYTES.toLocaleString('en-US')} an agent accepts: shorten its commands or environment`,
    );
  }
}

/** The `alloc` frame that stops an allocation of the version with this spec hash (the host checks it runs that one). */
export function stopFrame(allocId: string, specHash: string, reason: string): AllocFrame {
  return { t: 'alloc', body: { op: 'stop', allocId, specHash, reason: reason.slice(0, 500) } };
}

/**
 * Sends start and stop orders and remembers which starts never left this server: an allocation
 * told to stop before its start went out ends at once instead of waiting for a host that never
 * heard of it. Orders are idempotent on the host (same id and spec hash), so sending one again
 * after a reconnect is always safe.
 */
export class AllocDelivery {
  private readonly unsent = new Set<string>();

  constructor(private readonly sender: FrameSender) {}

  /** Sends a start now if the node is connected; otherwise it waits for the node's session. */
  start(a: AllocationRecord, signed: SignedJob): boolean {
    if (this.sender.sendToNode(a.nodeId, startFrame(a, signed))) {
      this.unsent.delete(a.id);
      return true;
    }
    this.unsent.add(a.id);
    return false;
  }

  stop(a: Pick<AllocationRecord, 'id' | 'nodeId'>, specHash: string, reason: string): boolean {
    return this.sender.sendToNode(a.nodeId, stopFrame(a.id, specHash, reason));
  }

  /** Whether the allocation's start may have reached its host (allocations from before a restart may have). */
  maybeDelivered(allocId: string): boolean {
    return !this.unsent.has(allocId);
  }

  forget(allocId: string): void {
    this.unsent.delete(allocId);
  }
}

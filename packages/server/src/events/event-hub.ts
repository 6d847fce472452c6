import type { AllocStatus } from '@gpufleet/protocol';
import type { AgentEventRecord, RunOutputInput, RunState, RunTargetRecord } from '../store/store.js';

/** What the control plane announces to live listeners (SSE streams, later the NATS bus). */
export type HubEvent =
  | {
      type: 'node';
      nodeId: string;
      change: 'enrolled' | 'status' | 'labels' | 'inventory' | 'removed';
      /** Every replica learns this on its own (a session moved between replicas): not passed on. */
      local?: true;
    }
  | { type: 'metrics'; nodeId: string; ts: number }
  /** An outbox item from an agent, published once it is stored. */
  | { type: 'agent-event'; nodeId: string; event: AgentEventRecord }
  /** A health verdict changed for a GPU (gpuKey set) or for the node as a whole (gpuKey null). */
  | {
      type: 'health';
      nodeId: string;
      gpuKey: string | null;
      verdict: 'healthy' | 'degraded' | 'unhealthy';
      previous: 'healthy' | 'degraded' | 'unhealthy' | 'unknown';
      rule: string | null;
      cause: string;
    }
  /** The fleet roots, the revocations or a label attestation changed (trust/): other replicas read them again. */
  | { type: 'trust'; nodeId?: undefined }
  | RunHubEvent
  | WorkloadHubEvent;

/**
 * A workload changed (workloads/): a job (submitted, stopped, purged, reverted), one allocation
 * (its status, health, or that it was placed or ended: on its node), or new stored output of one.
 */
export type WorkloadHubEvent =
  | { type: 'workload'; change: 'job'; job: string; nodeId?: undefined; allocId?: undefined }
  | { type: 'workload'; change: 'allocation'; job: string; allocId: string; nodeId: string; status: AllocStatus }
  | { type: 'workload'; change: 'output'; job: string; allocId: string; nodeId?: undefined };

/**
 * A run changed (runs/): the run as a whole (created, finished), one target's state, or one output
 * chunk stored for a target. Listeners that care about nodes only should skip these.
 */
export type RunHubEvent =
  | { type: 'run'; runId: string; nodeId?: undefined; change: 'created' | 'finished'; state: RunState }
  | { type: 'run'; runId: string; nodeId: string; change: 'target'; target: Readonly<RunTargetRecord> }
  | { type: 'run'; runId: string; nodeId: string; change: 'output'; output: Readonly<RunOutputInput> };

export type HubListener = (event: HubEvent) => void;

/**
 * The in-process bus. A listener that throws is removed rather than allowed to break
 * publishing for everyone else.
 */
export class EventHub {
  private readonly listeners = new Set<HubListener>();

  subscribe(listener: HubListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(event: HubEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        this.listeners.delete(listener);
      }
    }
  }

  get size(): number {
    return this.listeners.size;
  }
}

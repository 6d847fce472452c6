import type { AgentEventRecord } from '../store/store.js';
import type { EventHub } from '../events/event-hub.js';
import type { AgentEventSink } from '../gateway/agent-gateway.js';

/** The part of the runs service the router feeds. */
export interface RunReports {
  /** A host's report on a run (started, output, result, refused). */
  onAgentEvent(event: AgentEventRecord): void;
  /** Resolves once the output chunks taken so far are stored (run_output). */
  outputStored(): Promise<void>;
}

/** The part of the workload service the router feeds. */
export interface WorkloadReports {
  /** An allocation's state on its host; resolves once the allocation is updated in the store. */
  onHostReport(event: AgentEventRecord): Promise<void>;
  /** A chunk of an allocation's output; resolves once it is stored (alloc_output). */
  onHostOutput(event: AgentEventRecord): Promise<void>;
}

/** The part of the rollout service the router feeds. */
export interface RolloutReports {
  /** A host's state in its rollout; resolves once the rollout's host is updated in the store. */
  onHostReport(event: AgentEventRecord): Promise<void>;
  /** A bundle's containers differ from its desired state (or match again). */
  onDrift(event: AgentEventRecord): Promise<void>;
}

export interface AgentEventRouterOptions {
  /** The batched agent_events writer (gateway/event-writer.ts). */
  events: { write(record: AgentEventRecord): Promise<void> };
  health: { onAgentEvent(record: AgentEventRecord): void };
  runs: RunReports;
  workloads: WorkloadReports;
  hub: EventHub;
  /** Release reports (update-state) and bundle drift (bundle-drift): rollouts/rollout-service.ts. */
  rollouts: RolloutReports;
  /** Run reports go on to the other replicas: the one following the run may not be this one. */
  replicas: { runReport(record: AgentEventRecord): void };
}

/**
 * Where an agent's outbox event goes once the gateway has checked its sequence. Run output and
 * allocation output are stored once, as output (run_output, alloc_output: bounded, replayed by
 * their streams); they are not agent events. Everything else is stored as an agent event, then an
 * allocation's state is applied to it (durably), the event is judged by the health policy,
 * applied to its run (started, result, refused) and announced on the hub. The returned promise
 * resolves once the event is durable: the gateway acks the outbox item only then.
 */
export class AgentEventRouter implements AgentEventSink {
  constructor(private readonly o: AgentEventRouterOptions) {}

  async accept(record: AgentEventRecord): Promise<void> {
    if (record.kind === 'run-output') {
      this.o.runs.onAgentEvent(record);
      this.o.replicas.runReport(record);
      await this.o.runs.outputStored();
      return;
    }
    if (record.kind === 'alloc-output') {
      await this.o.workloads.onHostOutput(record);
      return;
    }
    await this.o.events.write(record);
    if (record.kind === 'alloc-state') await this.o.workloads.onHostReport(record);
    else if (record.kind === 'update-state') await this.o.rollouts.onHostReport(record);
    else if (record.kind === 'bundle-drift') await this.o.rollouts.onDrift(record);
    this.o.health.onAgentEvent(record);
    this.o.runs.onAgentEvent(record);
    this.o.replicas.runReport(record);
    this.o.hub.publish({ type: 'agent-event', nodeId: record.nodeId, event: record });
  }
}

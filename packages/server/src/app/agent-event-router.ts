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

export interface AgentEventRouterOptions {
  /** The batched agent_events writer (gateway/event-writer.ts). */
  events: { write(record: AgentEventRecord): Promise<void> };
  health: { onAgentEvent(record: AgentEventRecord): void };
  runs: RunReports;
  hub: EventHub;
}

/**
 * Where an agent's outbox event goes once the gateway has checked its sequence. Run output is
 * stored once, as run output (the runs service's run_output rows, bounded per host and run,
 * replayed by the run stream); it is not an agent event. Everything else is stored as an agent
 * event, then judged by the health policy, applied to its run (started, result, refused) and
 * announced on the hub. The returned promise resolves once the event is durable: the gateway
 * acks the outbox item only then.
 */
export class AgentEventRouter implements AgentEventSink {
  constructor(private readonly o: AgentEventRouterOptions) {}

  async accept(record: AgentEventRecord): Promise<void> {
    if (record.kind === 'run-output') {
      this.o.runs.onAgentEvent(record);
      await this.o.runs.outputStored();
      return;
    }
    await this.o.events.write(record);
    this.o.health.onAgentEvent(record);
    this.o.runs.onAgentEvent(record);
    this.o.hub.publish({ type: 'agent-event', nodeId: record.nodeId, event: record });
  }
}

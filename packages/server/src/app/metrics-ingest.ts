import type { MetricsBody } from '@gpufleet/protocol';
import type { EventHub } from '../events/event-hub.js';
import type { MetricsSink } from '../gateway/agent-gateway.js';

export interface MetricsIngestOptions {
  /** The in-memory rings (MetricStore). */
  store: { ingest(nodeId: string, body: MetricsBody): void };
  /** The health judgement's metric rules (HealthEngine). */
  health: { onMetrics(nodeId: string, body: MetricsBody): void };
  hub: EventHub;
}

/**
 * The metrics pipeline of one frame: kept in the rings first (so a reader told by the hub finds
 * it), then judged by the health policy, then announced on the hub (fleet stream, node stream).
 */
export class MetricsIngest implements MetricsSink {
  constructor(private readonly o: MetricsIngestOptions) {}

  ingest(nodeId: string, body: MetricsBody): void {
    this.o.store.ingest(nodeId, body);
    this.o.health.onMetrics(nodeId, body);
    this.o.hub.publish({ type: 'metrics', nodeId, ts: body.ts });
  }
}

import type { MetricsBody } from '@gpufleet/protocol';
import type { Bus } from '../bus/bus.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../bus/bus.js';
import { subjects } from '../bus/subjects.js';
import { encodeSampleItem, packBatches } from './metric-batch.js';

export interface MetricRelayOptions {
  bus: Bus;
  /** This replica instance: receivers skip their own batches by it. */
  instance: string;
  /** The latest sample of a node held here. */
  latest(nodeId: string): MetricsBody | null;
  /** Alone, nothing is encoded for nobody. */
  othersAlive(): boolean;
  /** How long samples gather before they go out; the delay other replicas' views have. Default 500 ms. */
  flushMs?: number;
  log: { warn(obj: object, msg: string): void };
}

/**
 * Sends the latest samples of the nodes held here to the other replicas, in batches (metric-batch.ts):
 * the nodes that sent a sample since the last flush, each once with its newest sample (latest
 * wins, so a node sampling faster than the flush costs one item, not several).
 */
export class MetricRelay {
  private changed = new Set<string>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly maxBytes: number;
  /** Samples sent, batches sent, and samples too large for a message (dropped). */
  readonly sent = { samples: 0, batches: 0, oversized: 0 };

  constructor(private readonly o: MetricRelayOptions) {
    // Leave room under the bus limit for what the transport adds; a batch is never refused for size.
    this.maxBytes = DEFAULT_MAX_PAYLOAD_BYTES - 1024;
  }

  start(): void {
    const every = this.o.flushMs ?? 500;
    this.timer = setInterval(() => this.flush(), every);
    this.timer.unref?.();
  }

  /** A node held here has a new latest sample. */
  note(nodeId: string): void {
    this.changed.add(nodeId);
  }

  /** Sends what gathered (tests call it; the timer does otherwise). */
  flush(): void {
    if (this.changed.size === 0) return;
    const nodes = this.changed;
    this.changed = new Set();
    if (!this.o.othersAlive()) return;
    const items: Uint8Array[] = [];
    for (const nodeId of nodes) {
      const body = this.o.latest(nodeId);
      if (body === null) continue;
      try {
        items.push(encodeSampleItem(nodeId, body));
      } catch (err) {
        this.o.log.warn({ nodeId, err: (err as Error).message }, 'could not relay a sample to the other replicas');
      }
    }
    const { batches, oversized } = packBatches(this.o.instance, items, this.maxBytes);
    this.sent.oversized += oversized;
    try {
      for (const batch of batches) {
        this.o.bus.publish(subjects.metricBatches, batch);
        this.sent.batches++;
      }
      this.sent.samples += items.length - oversized;
    } catch (err) {
      // A closed bus during shutdown: the others' views catch up with the next samples.
      this.o.log.warn({ err: (err as Error).message }, 'could not relay samples to the other replicas');
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

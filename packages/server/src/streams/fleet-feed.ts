import type { FleetStreamBatch, MetricsBody, NodeView } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { EventHub, HubEvent } from '../events/event-hub.js';
import type { NodeRecord } from '../store/store.js';
import { nodeDeltaOf } from './node-delta.js';
import type { SseStream } from './sse-stream.js';

/** What the fleet stream reads (a ServerContext fits). */
export interface FleetFeedDeps {
  hub: EventHub;
  registry: { get(id: string): NodeRecord | undefined };
  views: { view(node: NodeRecord): NodeView };
  metrics: { latest(nodeId: string): MetricsBody | null };
  clock: Clock;
}

/** What one hub event asks of the fleet stream for its node. */
export type FeedChange = 'full' | 'delta' | 'removed' | 'none';

/**
 * The rule that tells a delta from a full view, by hub event (events/event-hub.ts):
 * - `metrics`: new readings, and with them liveness and the no-readings verdicts -> delta.
 * - `agent-event`: a stored outbox item changes nothing a view shows by itself (what it means for
 *   health comes as its own `health` event) -> delta, which keeps lastSeenAt current and tells the
 *   dashboard that events may have moved.
 * - `node` `status`: the same change value covers a node coming and going and a state someone set
 *   (cordon, drain, a GPU cordoned) with who and why, which only a full view carries -> full.
 * - `node` `enrolled`, `labels`, `inventory`: facts, labels, GPUs, tool failures -> full.
 * - `node` `removed` -> removed (the id only).
 * - `health`: findings came or went, with rule, cause and evidence -> full.
 * - `run`: run progress is not a node change (10,000 targets would re-send every node) -> none.
 * A node with both kinds of change within one batch gets its full view.
 */
export function feedChangeOf(e: HubEvent): FeedChange {
  switch (e.type) {
    case 'metrics':
    case 'agent-event':
      return 'delta';
    case 'node':
      return e.change === 'removed' ? 'removed' : 'full';
    case 'health':
      return 'full';
    case 'run':
    case 'trust':
      return 'none';
    case 'workload':
      // A GPU's allocation shows in its node's view; output and job changes do not.
      return e.change === 'allocation' ? 'full' : 'none';
  }
}

/**
 * Feeds one fleet stream: collects changed nodes and writes them as one `nodes` event a second.
 * A reader that falls behind (more than `softLimitBytes` not yet taken) is not written to: the
 * changed set keeps growing only up to the fleet's size, and is written when the socket drains,
 * so the reader gets the latest state rather than a backlog. One that stays behind for
 * `stallTimeoutMs` is closed; EventSource reconnects and the page refetches.
 */
export class FleetFeed {
  private readonly full = new Set<string>();
  private readonly delta = new Set<string>();
  private readonly removed = new Set<string>();
  private behindSince: number | null = null;
  private waitingForDrain = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private unsubscribe: () => void = () => {};
  /** Batches written and ticks skipped because the reader was behind (tests and logs read these). */
  readonly counts = { batches: 0, skipped: 0 };

  constructor(
    private readonly d: FleetFeedDeps,
    private readonly stream: SseStream,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    this.unsubscribe = this.d.hub.subscribe((e) => this.note(e));
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.stream.onClose(() => this.stop());
    this.stream.send('hello', { serverTime: this.d.clock.now() });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribe();
  }

  /** Nodes waiting to be written (bounded by the fleet's size, whatever the event rate). */
  get pending(): number {
    return this.full.size + this.delta.size + this.removed.size;
  }

  private note(e: HubEvent): void {
    const change = feedChangeOf(e);
    if (change === 'none' || e.nodeId === undefined) return;
    const id = e.nodeId;
    if (change === 'removed') {
      this.full.delete(id);
      this.delta.delete(id);
      this.removed.add(id);
    } else if (change === 'full') {
      this.delta.delete(id);
      this.full.add(id);
    } else if (!this.full.has(id)) this.delta.add(id);
  }

  private tick(): void {
    if (!this.stream.isOpen) return;
    const limits = this.stream.limits;
    if (this.stream.buffered > limits.softLimitBytes) {
      const now = this.d.clock.now();
      this.behindSince ??= now;
      if (now - this.behindSince >= limits.stallTimeoutMs) {
        this.stream.close(`the reader stayed behind for ${Math.round((now - this.behindSince) / 1000)} s; reconnect and refetch`);
        return;
      }
      this.counts.skipped++;
      if (!this.waitingForDrain) {
        this.waitingForDrain = true;
        this.stream.whenDrained(() => {
          this.waitingForDrain = false;
          this.behindSince = null;
          this.flush();
        });
      }
      return;
    }
    this.behindSince = null;
    this.flush();
  }

  /** Writes what changed since the last batch, as it is now. */
  private flush(): void {
    if (!this.stream.isOpen || this.pending === 0) return;
    const batch: FleetStreamBatch = { items: [], deltas: [], removed: [...this.removed] };
    for (const id of this.full) {
      const node = this.d.registry.get(id);
      if (node) batch.items.push(this.d.views.view(node));
    }
    for (const id of this.delta) {
      const node = this.d.registry.get(id);
      if (node) batch.deltas.push(nodeDeltaOf(this.d.views.view(node), this.d.metrics.latest(id)?.ts ?? null));
    }
    this.full.clear();
    this.delta.clear();
    this.removed.clear();
    this.counts.batches++;
    this.stream.send('nodes', batch);
  }
}

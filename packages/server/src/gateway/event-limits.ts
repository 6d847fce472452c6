import { FleetError } from '@gpufleet/protocol';

/**
 * Per-node limits on what the gateway stores in `agent_events`. A node over its rate is slowed
 * down, never dropped from: its writes wait for budget and its items are acknowledged only once
 * stored, so the agent keeps them in its on-disk outbox meanwhile ("health events are never
 * lost"). Only a node that keeps sending past `maxWaitingBytes` is cut off; it reconnects and
 * replays from its last acknowledged item.
 */
export interface EventLimits {
  /** Sustained stored events per second per node. Default 50. */
  eventsPerSecond: number;
  /** Events a node may store at once above the sustained rate (a burst of run output). Default 2,000. */
  eventBurst: number;
  /** Sustained stored bytes (message + data JSON) per second per node. Default 64 KiB. */
  bytesPerSecond: number;
  /** Bytes a node may store at once above the sustained rate. Default 8 MiB. */
  byteBurst: number;
  /**
   * One event larger than this is stored cut down (message shortened, large data fields replaced
   * by a note of their size) rather than refused: refusing it would block the outbox behind it
   * for ever. Default 64 KiB (four times the agent's run output chunk).
   */
  maxEventBytes: number;
  /** Bytes of one node's events that may wait for budget; past it the session is closed. Default 4 MiB. */
  maxWaitingBytes: number;
}

export const DEFAULT_EVENT_LIMITS: Readonly<EventLimits> = Object.freeze({
  eventsPerSecond: 50,
  eventBurst: 2000,
  bytesPerSecond: 64 * 1024,
  byteBurst: 8 * 1024 * 1024,
  maxEventBytes: 64 * 1024,
  maxWaitingBytes: 4 * 1024 * 1024,
});

/** Fills in the defaults; an unknown or non-positive limit is a programming error. */
export function resolveEventLimits(given: Partial<EventLimits> = {}): EventLimits {
  for (const [key, value] of Object.entries(given)) {
    if (!(key in DEFAULT_EVENT_LIMITS)) throw new Error(`unknown event limit '${key}'`);
    if (typeof value !== 'number' || !Number.isFinite(value) || !(value > 0))
      throw new Error(`event limit '${key}' must be a positive number, got ${String(value)}`);
  }
  const limits = { ...DEFAULT_EVENT_LIMITS, ...given };
  if (limits.maxEventBytes > limits.byteBurst)
    throw new Error(`event limit 'maxEventBytes' (${limits.maxEventBytes}) must not exceed 'byteBurst' (${limits.byteBurst})`);
  return limits;
}

/** Counters for /metrics and diagnose. */
export interface EventLimitStats {
  /** Events that had to wait for their node's budget. */
  delayed: number;
  /** Events refused because too much of their node waited already (the session is closed; the agent replays). */
  refused: number;
}

interface Bucket {
  events: number;
  bytes: number;
  refilledAt: number;
  waitingBytes: number;
  tail: Promise<void>;
}

/**
 * Token buckets per node, one for the count and one for the bytes of stored events. `admit`
 * resolves when the event may be stored, in arrival order per node.
 */
export class EventBudget {
  readonly stats: EventLimitStats = { delayed: 0, refused: 0 };
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly limits: EventLimits,
    private readonly now: () => number,
    /** Waits `ms`; injectable so tests move a manual clock instead of sleeping. */
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()),
  ) {}

  /**
   * Waits until `bytes` more may be stored for `nodeId`. Rejects with `rate_limited` when the
   * node's waiting events would pass `maxWaitingBytes`: it is sending faster than it may for
   * longer than the burst covers.
   */
  admit(nodeId: string, bytes: number): Promise<void> {
    const b = this.bucket(nodeId);
    const cost = Math.min(Math.max(0, bytes), this.limits.byteBurst);
    if (b.waitingBytes > 0 && b.waitingBytes + cost > this.limits.maxWaitingBytes) {
      this.stats.refused++;
      return Promise.reject(
        new FleetError(
          'rate_limited',
          `node ${nodeId} sends events faster than it may store them (${this.limits.eventsPerSecond}/s, ${this.limits.bytesPerSecond} B/s): reconnect later, the outbox keeps them`,
          {
            details: { nodeId, waitingBytes: b.waitingBytes },
          },
        ),
      );
    }
    b.waitingBytes += cost;
    const take = async (): Promise<void> => {
      let waited = false;
      for (;;) {
        this.refill(b);
        if (b.events >= 1 && b.bytes >= cost) {
          b.events -= 1;
          b.bytes -= cost;
          return;
        }
        if (!waited) this.stats.delayed++;
        waited = true;
        const needEvents = Math.max(0, 1 - b.events) / this.limits.eventsPerSecond;
        const needBytes = Math.max(0, cost - b.bytes) / this.limits.bytesPerSecond;
        await this.sleep(Math.max(1, Math.ceil(Math.max(needEvents, needBytes) * 1000)));
      }
    };
    const turn = b.tail.then(take);
    b.tail = turn.catch(() => undefined);
    return turn.finally(() => {
      b.waitingBytes -= cost;
    });
  }

  /** Drops a node's bucket (it was removed); a new one starts full. */
  forget(nodeId: string): void {
    this.buckets.delete(nodeId);
  }

  private bucket(nodeId: string): Bucket {
    let b = this.buckets.get(nodeId);
    if (!b) {
      b = { events: this.limits.eventBurst, bytes: this.limits.byteBurst, refilledAt: this.now(), waitingBytes: 0, tail: Promise.resolve() };
      this.buckets.set(nodeId, b);
    }
    return b;
  }

  private refill(b: Bucket): void {
    const now = this.now();
    const seconds = Math.max(0, now - b.refilledAt) / 1000;
    b.refilledAt = now;
    b.events = Math.min(this.limits.eventBurst, b.events + seconds * this.limits.eventsPerSecond);
    b.bytes = Math.min(this.limits.byteBurst, b.bytes + seconds * this.limits.bytesPerSecond);
  }
}

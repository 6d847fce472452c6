import { MAX_FRAME_BYTES, type AgentEvent, type InventoryBody } from '@gpufleet/protocol';
import { silentLogger, type Logger } from './logger.js';
import type { AgentStateStore, OutboxItem } from './state.js';

/** How much the outbox may hold before it refuses new items. */
export interface OutboxLimits {
  maxItems: number;
  maxBytes: number;
}

export const DEFAULT_OUTBOX_LIMITS: OutboxLimits = { maxItems: 100_000, maxBytes: 64 * 1024 * 1024 };

/**
 * Share of the limits that non-critical items (inventory) may fill. The rest is kept for
 * critical items (health events), so a long outage that piles up inventories cannot crowd out
 * the event that says a GPU is failing.
 */
export const NON_CRITICAL_SHARE = 0.9;

/** An item before it gets its seq. */
export type OutboxEntry = { t: 'inventory'; body: InventoryBody } | { t: 'event'; body: AgentEvent };

export interface OutboxOptions {
  limits?: Partial<OutboxLimits>;
  logger?: Logger;
}

/**
 * Everything the agent must not lose, numbered with a monotonic seq that survives restarts,
 * kept (through the state store) until the server acknowledges it. Items are never dropped to
 * make room: when full, new items are refused and counted, which keeps the seqs the server sees
 * gap-free. Metrics never come here (they go to the MetricsRing).
 */
export class Outbox {
  private readonly limits: OutboxLimits;
  private readonly logger: Logger;
  private items: OutboxItem[];
  /** Index of the first pending item in `items` (acks advance it instead of shifting the array). */
  private head = 0;
  private sizes: number[];
  private totalBytes = 0;
  private last: number;
  private acked: number;
  /** Items refused because the outbox was full or the item too big, since start. */
  refused = 0;
  private refusingSince: number | null = null;

  constructor(
    private readonly store: AgentStateStore,
    options: OutboxOptions = {},
  ) {
    this.limits = { ...DEFAULT_OUTBOX_LIMITS, ...options.limits };
    this.logger = options.logger ?? silentLogger;
    const snap = store.loadOutbox();
    this.items = snap.items;
    this.sizes = snap.items.map(itemBytes);
    this.totalBytes = this.sizes.reduce((a, b) => a + b, 0);
    this.last = snap.lastSeq;
    this.acked = snap.ackedSeq;
  }

  /** Highest seq ever assigned. */
  get lastSeq(): number {
    return this.last;
  }

  get ackedSeq(): number {
    return this.acked;
  }

  /** Number of pending (unacknowledged) items. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** Bytes of JSON the pending items take. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Pending items, ascending seq. */
  pending(): OutboxItem[] {
    return this.items.slice(this.head);
  }

  /**
   * Assigns the next seq and stores the item (fsynced when critical). Returns null, logging
   * why, when the outbox is full for this kind of item or the item would not fit in one frame.
   */
  append(entry: OutboxEntry, critical = entry.t === 'event'): OutboxItem | null {
    const candidate = { seq: this.last + 1, ...entry } as OutboxItem;
    const bytes = itemBytes(candidate);
    if (bytes > MAX_FRAME_BYTES) {
      this.refused++;
      this.logger.error('outbox item refused: it is larger than one frame', { kind: entry.t, bytes, limit: MAX_FRAME_BYTES });
      return null;
    }
    const share = critical ? 1 : NON_CRITICAL_SHARE;
    if (this.size + 1 > this.limits.maxItems * share || this.totalBytes + bytes > this.limits.maxBytes * share) {
      this.refused++;
      // One line when refusing starts, not one per item: a full outbox means a long outage.
      if (this.refusingSince === null) {
        this.refusingSince = this.refused;
        this.logger.warn('outbox is full: refusing new items until the server acknowledges some', {
          kind: entry.t,
          critical,
          items: this.size,
          bytes: this.totalBytes,
          ...this.limits,
        });
      }
      return null;
    }
    this.store.appendOutbox(candidate, critical);
    this.items.push(candidate);
    this.sizes.push(bytes);
    this.totalBytes += bytes;
    this.last = candidate.seq;
    return candidate;
  }

  /** The server has stored every item up to `upTo`: drop them. Returns how many went. */
  ack(upTo: number): number {
    if (!Number.isInteger(upTo) || upTo <= this.acked) return 0;
    const target = Math.min(upTo, this.last);
    let removed = 0;
    while (this.head < this.items.length && this.items[this.head]!.seq <= target) {
      this.totalBytes -= this.sizes[this.head]!;
      this.head++;
      removed++;
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
    if (target > this.acked) {
      this.acked = target;
      this.store.ackOutbox(target);
    }
    if (removed > 0 && this.refusingSince !== null) {
      this.logger.info('outbox has room again', { refusedMeanwhile: this.refused - this.refusingSince + 1 });
      this.refusingSince = null;
    }
    return removed;
  }

  /**
   * Lines the outbox up with the server's `ackedSeq` from a welcome. Normally that is an ack.
   * When the server has acknowledged seqs this outbox never assigned, the agent's state was
   * lost (a wiped data dir with a kept key, a restarted simulator): the pending items are
   * renumbered after the server's seq so they are not taken for replays.
   */
  resync(serverAckedSeq: number): void {
    if (serverAckedSeq <= this.last) {
      this.ack(serverAckedSeq);
      return;
    }
    const pending = this.pending();
    const renumbered = pending.map((item, i) => ({ ...item, seq: serverAckedSeq + 1 + i }) as OutboxItem);
    this.logger.warn("server has acknowledged seqs beyond this agent's own: local state was lost; renumbering pending items", {
      localLastSeq: this.last,
      serverAckedSeq,
      pending: renumbered.length,
    });
    this.items = renumbered;
    this.sizes = renumbered.map(itemBytes);
    this.totalBytes = this.sizes.reduce((a, b) => a + b, 0);
    this.head = 0;
    this.acked = serverAckedSeq;
    this.last = serverAckedSeq + renumbered.length;
    this.store.replaceOutbox({ lastSeq: this.last, ackedSeq: this.acked, items: renumbered });
  }
}

function itemBytes(item: OutboxItem): number {
  return Buffer.byteLength(JSON.stringify(item));
}

import type { AgentEvent, InventoryBody } from '@gpufleet/protocol';

/** What `join` learned and `run` needs: who we are to the server and how to reach it. */
export interface NodeConfig {
  nodeId: string;
  /** Server base URL from the join token, e.g. `https://fleet.example:8443`. */
  serverUrl: string;
  /** The pinned CA (PEM) verified against the token's fingerprint; null on a loopback http server. */
  caPem: string | null;
  /** Root operator DIDs of the fleet, from the join token (for verifying signed commands later). */
  roots: string[];
  heartbeatMs: number;
  /** Labels asked for at join time (`--label k=v`). */
  labels: Record<string, string>;
}

/** One must-not-lose item: sent with its seq until the server acknowledges it. */
export type OutboxItem = { seq: number; t: 'inventory'; body: InventoryBody } | { seq: number; t: 'event'; body: AgentEvent };

/** The outbox as persisted: pending items in seq order plus the two counters. */
export interface OutboxSnapshot {
  /** Highest seq ever assigned (survives restarts so seqs stay monotonic). */
  lastSeq: number;
  /** Every item up to this seq is acknowledged by the server. */
  ackedSeq: number;
  /** Items with seq > ackedSeq, ascending. */
  items: OutboxItem[];
}

/**
 * Where an agent keeps its state. The file store (a real host: data dir) and the memory store
 * (the simulator: 10,000 agents in one process) behave the same. Calls are synchronous: the
 * agent is single-threaded and the outbox order must never interleave.
 */
export interface AgentStateStore {
  loadConfig(): NodeConfig | null;
  saveConfig(config: NodeConfig): void;
  loadOutbox(): OutboxSnapshot;
  /** Appends one item; `durable` asks for it to be on stable storage before returning (health events). */
  appendOutbox(item: OutboxItem, durable: boolean): void;
  /** Records that every item up to `upTo` is acknowledged. */
  ackOutbox(upTo: number): void;
  /** Replaces the whole outbox (used when seqs are renumbered after the server's state moved ahead). */
  replaceOutbox(snapshot: OutboxSnapshot): void;
  /** Makes everything durable and compact; called on stop. */
  flush(): void;
}

/** Keeps everything in memory: the simulator's store, also handy in tests (survives an Agent restart in-process). */
export class MemoryStateStore implements AgentStateStore {
  private config: NodeConfig | null;
  private lastSeq = 0;
  private ackedSeq = 0;
  private items: OutboxItem[] = [];

  constructor(config: NodeConfig | null = null) {
    this.config = config;
  }

  loadConfig(): NodeConfig | null {
    return this.config ? { ...this.config, roots: [...this.config.roots], labels: { ...this.config.labels } } : null;
  }

  saveConfig(config: NodeConfig): void {
    this.config = { ...config, roots: [...config.roots], labels: { ...config.labels } };
  }

  loadOutbox(): OutboxSnapshot {
    return { lastSeq: this.lastSeq, ackedSeq: this.ackedSeq, items: [...this.items] };
  }

  appendOutbox(item: OutboxItem): void {
    this.items.push(item);
    if (item.seq > this.lastSeq) this.lastSeq = item.seq;
  }

  ackOutbox(upTo: number): void {
    if (upTo <= this.ackedSeq) return;
    this.ackedSeq = upTo;
    let drop = 0;
    while (drop < this.items.length && this.items[drop]!.seq <= upTo) drop++;
    if (drop > 0) this.items = this.items.slice(drop);
  }

  replaceOutbox(snapshot: OutboxSnapshot): void {
    this.lastSeq = snapshot.lastSeq;
    this.ackedSeq = snapshot.ackedSeq;
    this.items = [...snapshot.items];
  }

  flush(): void {}
}

import { CancelPayload, LabelAttestation, REFUSAL_REASONS, Revocation, type AgentEvent, type InventoryBody, type RefusalReason } from '@gpufleet/protocol';
import type { StoredAllocation } from '../workloads/stored-allocation.js';

/** What `join` learned and `run` needs: who we are to the server and how to reach it. */
export interface NodeConfig {
  nodeId: string;
  /** Server base URL from the join token, e.g. `https://fleet.example:8443`. */
  serverUrl: string;
  /**
   * Every replica of the control plane the agent may dial, the one to try first at the head
   * (from the join token, then from the server's welcome). Absent: just `serverUrl`.
   */
  serverUrls?: string[];
  /** The pinned CA (PEM) verified against the token's fingerprint; null on a loopback http server. */
  caPem: string | null;
  /** Root operator DIDs of the fleet, from the join token (for verifying signed commands later). */
  roots: string[];
  heartbeatMs: number;
  /** Labels asked for at join time (`--label k=v`). */
  labels: Record<string, string>;
}

/** The URLs the link dials, in order: the replica list when there is one, else the one server URL. */
export function nodeServerUrls(config: NodeConfig): string[] {
  return config.serverUrls && config.serverUrls.length > 0 ? [...config.serverUrls] : [config.serverUrl];
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
 * How a run ended, as the host keeps it to report again when the same command is delivered
 * twice. exitCode is null when a signal ended it (or it never started).
 */
export interface StoredRunResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  canceled: boolean;
  durationMs: number;
  /** Every byte the command wrote, kept or not. */
  outputBytes: number;
  truncated: boolean;
}

export type StoredRunOutcome = { kind: 'result'; result: StoredRunResult; message?: string } | { kind: 'refused'; reason: RefusalReason; message: string };

/**
 * One record of the host's trust log for remote operations (exec/trust-store.ts gives them
 * meaning): the current fleet roots, verified revocations, each accepted command (run id and
 * nonce, written before its process starts), each run's outcome, and the replay horizon (the
 * newest issue time of a command whose nonce was forgotten).
 */
export type TrustRecord =
  | { t: 'roots'; version: number; roots: string[] }
  | { t: 'revocation'; revocation: Revocation }
  | { t: 'run'; runId: string; nonce: string; sig: string; issuedAt: number; expiresAt: number; at: number }
  | { t: 'outcome'; runId: string; outcome: StoredRunOutcome }
  | { t: 'horizon'; issuedAt: number }
  /** A signed cancel whose signature verified when it arrived; kept until its `until`. */
  | { t: 'cancel'; cancel: CancelPayload }
  /** The node's latest label attestation; verified when it arrived (exec/attested-labels.ts). */
  | { t: 'labels'; attestation: LabelAttestation };

const isStr = (v: unknown, max = 4096): v is string => typeof v === 'string' && v.length <= max;
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function isRunResult(v: unknown): v is StoredRunResult {
  const r = v as Record<string, unknown> | null;
  return (
    r !== null &&
    typeof r === 'object' &&
    (r.exitCode === null || Number.isInteger(r.exitCode)) &&
    (r.signal === null || isStr(r.signal, 32)) &&
    typeof r.timedOut === 'boolean' &&
    typeof r.canceled === 'boolean' &&
    isTime(r.durationMs) &&
    isTime(r.outputBytes) &&
    typeof r.truncated === 'boolean'
  );
}

/** Whether a value read back from storage is a well-formed trust record (a damaged one is skipped). */
export function isTrustRecord(raw: unknown): raw is TrustRecord {
  if (raw === null || typeof raw !== 'object') return false;
  const r = raw as Record<string, unknown>;
  switch (r.t) {
    case 'roots':
      return Number.isInteger(r.version) && (r.version as number) >= 0 && Array.isArray(r.roots) && r.roots.every((d) => isStr(d, 128));
    case 'revocation':
      return Revocation.safeParse(r.revocation).success;
    case 'run':
      return isStr(r.runId, 64) && isStr(r.nonce, 128) && isStr(r.sig, 256) && isTime(r.issuedAt) && isTime(r.expiresAt) && isTime(r.at);
    case 'outcome': {
      const o = r.outcome as Record<string, unknown> | null;
      if (!isStr(r.runId, 64) || o === null || typeof o !== 'object') return false;
      if (o.kind === 'result') return isRunResult(o.result) && (o.message === undefined || isStr(o.message, 8192));
      return o.kind === 'refused' && (REFUSAL_REASONS as readonly unknown[]).includes(o.reason) && isStr(o.message, 8192);
    }
    case 'horizon':
      return isTime(r.issuedAt);
    case 'cancel':
      return CancelPayload.safeParse(r.cancel).success;
    case 'labels':
      return LabelAttestation.safeParse(r.attestation).success;
    default:
      return false;
  }
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
  /** The trust log, oldest record first (damaged records skipped). */
  loadTrust(): TrustRecord[];
  /** Appends records; `durable` asks for stable storage before returning (a run is recorded before it starts). */
  appendTrust(records: readonly TrustRecord[], durable: boolean): void;
  /** Replaces the whole trust log (compaction). */
  replaceTrust(records: readonly TrustRecord[]): void;
  /** The workload allocations this host accepted (damaged records skipped). */
  loadAllocations(): StoredAllocation[];
  /** Replaces the stored allocations, durably: a restart must find what runs here. */
  saveAllocations(records: readonly StoredAllocation[]): void;
}

/** Keeps everything in memory: the simulator's store, also handy in tests (survives an Agent restart in-process). */
export class MemoryStateStore implements AgentStateStore {
  private config: NodeConfig | null;
  private lastSeq = 0;
  private ackedSeq = 0;
  private items: OutboxItem[] = [];
  private trust: TrustRecord[] = [];
  private allocations: StoredAllocation[] = [];

  constructor(config: NodeConfig | null = null) {
    this.config = config;
  }

  loadConfig(): NodeConfig | null {
    return this.config ? copyConfig(this.config) : null;
  }

  saveConfig(config: NodeConfig): void {
    this.config = copyConfig(config);
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

  loadTrust(): TrustRecord[] {
    return structuredClone(this.trust);
  }

  appendTrust(records: readonly TrustRecord[]): void {
    // Copies, so a caller mutating its objects later cannot change what was "stored".
    for (const r of records) this.trust.push(structuredClone(r));
  }

  replaceTrust(records: readonly TrustRecord[]): void {
    this.trust = structuredClone([...records]);
  }

  loadAllocations(): StoredAllocation[] {
    return structuredClone(this.allocations);
  }

  saveAllocations(records: readonly StoredAllocation[]): void {
    this.allocations = structuredClone([...records]);
  }
}

// Copies the lists too, so a caller changing its object later cannot change what was "stored".
function copyConfig(c: NodeConfig): NodeConfig {
  return { ...c, roots: [...c.roots], labels: { ...c.labels }, ...(c.serverUrls ? { serverUrls: [...c.serverUrls] } : {}) };
}

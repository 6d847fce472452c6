import { parseSelector, type RunTargetState, type Selector, type ServerFrame, type SignedCommand } from '@gpufleet/protocol';
import type { RunRecord, RunTargetRecord } from '../store/store.js';
import type { BatchPolicy } from './batch-policy.js';
import { FAILING_STATES, FINAL_STATES, IN_FLIGHT_STATES, compactCounts, emptyCounts, runStateOf, type TargetCounts } from './run-outcome.js';

/**
 * One run in memory: its targets, the batch being rolled out and the tallies the scheduler needs
 * in O(1) (hosts in flight, failures, targets still open in the batch). No I/O here: the service
 * sends frames, stores rows and publishes events; this only keeps the books straight.
 */
export class ActiveRun {
  readonly targets = new Map<string, RunTargetRecord>();
  /** Node ids per batch, in dispatch order. */
  readonly batches: string[][] = [];
  readonly counts: TargetCounts = emptyCounts();
  batchIndex = 0;
  /** Next position in the current batch that was never tried. */
  cursor = 0;
  /** Targets of the current batch that are not final yet. */
  openInBatch = 0;
  /** Targets of the whole run that are not final yet. */
  open = 0;
  inflight = 0;
  failures = 0;
  /** No new hosts are started (canceled, threshold reached, deadline passed). */
  stopped = false;
  /** Tried while their host had no session: delivered when it reconnects. */
  readonly waiting = new Set<string>();
  /** Reconnected waiting hosts not yet sent to (no free slot at the time). */
  private retryQueue: string[] = [];
  private retryHead = 0;
  /**
   * Hosts that may have had the command already: sent to again after a reconnect, or open when
   * the run was reloaded after a restart. A replayed-nonce refusal from one of them means "I have
   * it already" (the host reports on it through its outbox), not a refusal.
   */
  readonly resent = new Set<string>();
  /** Highest output chunk seen per `${nodeId}\0${stream}`: re-sent chunks are dropped. */
  readonly lastChunk = new Map<string, number>();
  /** Output bytes kept per host (the cap applies to these). */
  readonly stored = new Map<string, number>();

  constructor(
    readonly record: RunRecord,
    readonly command: SignedCommand,
    /** The frame every target gets (the command plus the library script, if any). */
    readonly frame: ServerFrame,
    readonly policy: BatchPolicy,
    targets: readonly RunTargetRecord[],
  ) {
    for (const t of targets) {
      this.targets.set(t.nodeId, t);
      (this.batches[t.batch] ??= []).push(t.nodeId);
      this.counts[t.state]++;
      if (!FINAL_STATES.has(t.state)) this.open++;
      if (IN_FLIGHT_STATES.has(t.state)) this.inflight++;
      if (FAILING_STATES.has(t.state)) this.failures++;
    }
    // Batches are numbered from 0 without gaps; a reloaded run resumes at its first open batch.
    for (let i = 0; i < this.batches.length; i++) this.batches[i] ??= [];
    while (this.batchIndex < this.batches.length - 1 && this.openIn(this.batchIndex) === 0) this.batchIndex++;
    this.openInBatch = this.openIn(this.batchIndex);
  }

  private serialized: string | null = null;
  private parsedTarget: Selector | null = null;

  /** The command's signed target selector, parsed once (every send is checked against it). */
  get selector(): Selector {
    return (this.parsedTarget ??= parseSelector(this.command.payload.target));
  }

  /** The frame as JSON, serialised once for every target (a fan-out sends it thousands of times). */
  get frameText(): string {
    return (this.serialized ??= JSON.stringify(this.frame));
  }

  get id(): string {
    return this.record.id;
  }

  get total(): number {
    return this.targets.size;
  }

  get finished(): boolean {
    return this.record.state !== 'running';
  }

  private openIn(batch: number): number {
    let n = 0;
    for (const id of this.batches[batch] ?? []) if (!FINAL_STATES.has(this.targets.get(id)!.state)) n++;
    return n;
  }

  /** Moves a target to a state and keeps every tally in step; returns the state it left. */
  setState(t: RunTargetRecord, state: RunTargetState): RunTargetState {
    const old = t.state;
    if (old === state) return old;
    this.counts[old]--;
    this.counts[state]++;
    if (IN_FLIGHT_STATES.has(old)) this.inflight--;
    if (IN_FLIGHT_STATES.has(state)) this.inflight++;
    if (FAILING_STATES.has(old)) this.failures--;
    if (FAILING_STATES.has(state)) this.failures++;
    if (!FINAL_STATES.has(old) && FINAL_STATES.has(state)) {
      this.open--;
      if (t.batch === this.batchIndex) this.openInBatch--;
    }
    if (old === 'queued') this.waiting.delete(t.nodeId);
    t.state = state;
    this.record.counts = compactCounts(this.counts);
    return old;
  }

  slotFree(): boolean {
    return this.policy.maxParallel === null || this.inflight < this.policy.maxParallel;
  }

  thresholdExceeded(): boolean {
    return this.policy.failureThreshold !== null && this.failures > this.policy.failureThreshold;
  }

  /** The run's state from its tallies (running while any target is open). */
  currentState(): RunRecord['state'] {
    return runStateOf(this.counts, this.total, this.record.canceledBy !== null);
  }

  retry(nodeId: string): void {
    this.retryQueue.push(nodeId);
  }

  /** The next reconnected host to send to, or undefined. */
  nextRetry(): string | undefined {
    if (this.retryHead >= this.retryQueue.length) {
      this.retryQueue = [];
      this.retryHead = 0;
      return undefined;
    }
    return this.retryQueue[this.retryHead++];
  }

  /** The next never-tried target of the current batch, or undefined. */
  nextInBatch(): RunTargetRecord | undefined {
    const batch = this.batches[this.batchIndex] ?? [];
    while (this.cursor < batch.length) {
      const t = this.targets.get(batch[this.cursor++]!)!;
      if (t.state === 'queued') return t;
    }
    return undefined;
  }

  /** Whether the current batch is over and another one follows; then moves on to it. */
  advanceBatch(): boolean {
    if (this.openInBatch > 0 || this.batchIndex + 1 >= this.batches.length) return false;
    this.batchIndex++;
    this.cursor = 0;
    this.openInBatch = this.openIn(this.batchIndex);
    return true;
  }

  /** Targets never offered to their host: the rest of the current batch and every later batch. */
  untried(): Set<string> {
    const ids = new Set<string>((this.batches[this.batchIndex] ?? []).slice(this.cursor));
    for (let b = this.batchIndex + 1; b < this.batches.length; b++) for (const id of this.batches[b]!) ids.add(id);
    return ids;
  }
}

import type { Clock } from '../clock.js';
import type { Store } from '../store/store.js';
import type { LeaseRole } from '../replicas/leases.js';

export interface EventRetentionOptions {
  store: Pick<Store, 'pruneAgentEventsBefore' | 'nodesOverEventCap' | 'trimNodeEvents'>;
  clock: Clock;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** Agent events received longer ago than this are deleted (config `events-retention`, default 30d). */
  retentionMs: number;
  /** A node keeps at most this many events, its oldest going first (config `events-per-node`, default 100,000). */
  maxPerNode: number;
  /** The `retention` lease: with several replicas only its holder prunes (soleHolder alone). */
  lease: LeaseRole;
  /** Time between passes. Default 10 minutes. */
  intervalMs?: number;
  /** Rows per delete statement, so a large backlog never holds the store's write lock for long. Default 5,000. */
  chunk?: number;
}

export interface RetentionPass {
  /** Events deleted for their age. */
  expired: number;
  /** Events deleted because their node held more than `maxPerNode`. */
  trimmed: number;
}

export type RetentionState = 'stopped' | 'running' | 'draining';

/**
 * Keeps `agent_events` bounded: by age (when the server received an event, so an agent cannot
 * keep its events by dating them ahead) and by count per node. Together with the gateway's
 * per-node rate limits this bounds what one node can make the store hold. Runs a pass at start
 * and then every `intervalMs`; `stop` lets a running pass finish its current chunk.
 */
export class EventRetention {
  private timer: NodeJS.Timeout | null = null;
  private pass: Promise<RetentionPass> | null = null;
  private current: RetentionState = 'stopped';
  /** Totals since start, for /metrics and diagnose. */
  readonly totals = { passes: 0, expired: 0, trimmed: 0, failures: 0 };

  constructor(private readonly o: EventRetentionOptions) {
    if (!(Number.isSafeInteger(o.retentionMs) && o.retentionMs > 0))
      throw new Error(`event retention must be a positive number of ms, got ${String(o.retentionMs)}`);
    if (!(Number.isSafeInteger(o.maxPerNode) && o.maxPerNode > 0)) throw new Error(`events per node must be a positive integer, got ${String(o.maxPerNode)}`);
  }

  get state(): RetentionState {
    return this.current;
  }

  /** Runs a first pass now (not awaited) and schedules the next ones. */
  start(): void {
    if (this.current !== 'stopped') return;
    this.current = 'running';
    void this.runPass();
    this.timer = setInterval(() => void this.runPass(), this.o.intervalMs ?? 600_000);
    this.timer.unref();
  }

  /** Stops the schedule and waits for a running pass to end (it stops after its current chunk). */
  async stop(): Promise<void> {
    if (this.current === 'stopped') return;
    this.current = 'draining';
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.pass?.catch(() => undefined);
    this.current = 'stopped';
  }

  /** Runs a pass now, or returns the one in flight; failures are logged and counted, never thrown. */
  runPass(): Promise<RetentionPass> {
    if (this.pass) return this.pass;
    // Another replica prunes: two would only contend for the same rows.
    if (!this.o.lease.holds()) return Promise.resolve({ expired: 0, trimmed: 0 });
    this.pass = this.prune()
      .catch((err: unknown) => {
        this.totals.failures++;
        this.o.log.warn({ err }, 'agent event retention pass failed; the next pass tries again');
        return { expired: 0, trimmed: 0 };
      })
      .finally(() => {
        this.pass = null;
      });
    return this.pass;
  }

  private async prune(): Promise<RetentionPass> {
    const chunk = this.o.chunk ?? 5000;
    const done: RetentionPass = { expired: 0, trimmed: 0 };
    const before = this.o.clock.now() - this.o.retentionMs;
    while (this.current !== 'draining') {
      const n = await this.o.store.pruneAgentEventsBefore(before, chunk);
      done.expired += n;
      if (n < chunk) break;
    }
    for (const { nodeId, events } of await this.o.store.nodesOverEventCap(this.o.maxPerNode)) {
      let left = events - this.o.maxPerNode;
      while (left > 0 && this.current !== 'draining') {
        const n = await this.o.store.trimNodeEvents(nodeId, this.o.maxPerNode, chunk);
        done.trimmed += n;
        left -= n;
        if (n === 0) break;
      }
    }
    this.totals.passes++;
    this.totals.expired += done.expired;
    this.totals.trimmed += done.trimmed;
    if (done.expired + done.trimmed > 0) this.o.log.info({ ...done }, 'agent events pruned');
    return done;
  }
}

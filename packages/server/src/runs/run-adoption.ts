import { SignedCommand } from '@gpufleet/protocol';
import type { RunClaims } from '../replicas/run-followers.js';
import type { RunRecord, Store } from '../store/store.js';
import { ActiveRun } from './active-run.js';
import { resolveBatchPolicy } from './batch-policy.js';
import { commandFrame, type RunScriptLookup } from './command-frame.js';
import { FINAL_STATES } from './run-outcome.js';
import type { RunScheduler } from './run-scheduler.js';

export interface AdoptionDeps {
  store: Pick<Store, 'listRuns' | 'listRunTargets'>;
  /** Which replica follows each active run: a run is taken up only when no live replica follows it. */
  claims: RunClaims;
  log: { warn(obj: object, msg: string): void };
  /** The runs this server follows (the service's own map: adoption adds and lets go). */
  runs: Map<string, ActiveRun>;
  scheduler: RunScheduler;
  scriptLookup: RunScriptLookup;
  /** Applies the stored reports of a host on the runs (run-catch-up.ts). */
  catchUp(nodeId: string, runs: ActiveRun[]): Promise<void>;
}

/**
 * Taking up active runs from the store: at start, those that were still going when the server
 * stopped; later, those whose follower (another replica) is gone. A run is followed by one replica
 * at a time (RunClaims); a replica that finds its runs claimed by another lets them go.
 */
export class RunAdoption {
  private adopting = false;
  /** Active runs whose stored command cannot be followed: looked at once, not every tick. */
  private readonly unloadable = new Set<string>();

  constructor(private readonly d: AdoptionDeps) {}

  /** Takes up the runs that were still going when the server stopped (and that no live replica follows). */
  async loadActive(): Promise<void> {
    for (const record of await this.d.store.listRuns({ active: true, limit: 10_000 })) {
      if (!(await this.d.claims.claim(record.id))) continue;
      const run = await this.adopt(record);
      // Hosts not confirmed yet wait for their sessions (nobody is connected this early).
      if (run) this.d.scheduler.pump(run);
    }
  }

  /**
   * Runs whose follower is gone (its replica was killed or stopped mid-run): taken up here. What
   * their hosts reported to the gone follower is in the store and is applied first; then the
   * batches go on and hosts that are connected get what they have not confirmed.
   */
  async adoptOrphans(): Promise<void> {
    const { runs, claims, log, scheduler } = this.d;
    if (this.adopting) return;
    this.adopting = true;
    try {
      // A replica paused past its directory entry (SIGSTOP, a frozen VM) finds its runs taken up by others: it lets them go.
      for (const run of [...runs.values()]) {
        if (run.finished || (await claims.claim(run.id))) continue;
        runs.delete(run.id);
        log.warn({ runId: run.id }, 'another replica follows this run now; letting it go');
      }
      for (const record of await this.d.store.listRuns({ active: true, limit: 10_000 })) {
        if (runs.has(record.id) || this.unloadable.has(record.id)) continue;
        if (!(await claims.claim(record.id))) continue;
        const run = await this.adopt(record);
        if (!run) continue;
        log.warn({ runId: run.id }, 'took up a run whose replica is gone');
        const open = [...run.targets.values()].filter((t) => !FINAL_STATES.has(t.state)).map((t) => t.nodeId);
        await Promise.all(open.map((nodeId) => this.d.catchUp(nodeId, [run])));
        scheduler.pump(run);
        for (const nodeId of open) scheduler.onSessionReady(run, nodeId);
        scheduler.finishIfDone(run);
      }
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not look for runs whose replica is gone');
    } finally {
      this.adopting = false;
    }
  }

  /** Builds the run's state from the store and follows it; null when its command cannot be followed. */
  private async adopt(record: RunRecord): Promise<ActiveRun | null> {
    const command = SignedCommand.safeParse(record.command);
    if (!command.success) {
      this.unloadable.add(record.id);
      this.d.log.warn({ runId: record.id }, 'a stored run holds no valid command; left as it is');
      return null;
    }
    const frame = await commandFrame(command.data, this.d.scriptLookup).catch(() => null);
    if (!frame) {
      this.unloadable.add(record.id);
      return null;
    }
    const targets = await this.d.store.listRunTargets(record.id);
    const policy = resolveBatchPolicy((record.batch as { asked?: never } | null)?.asked, targets.length);
    const run = new ActiveRun(record, command.data, frame, policy, targets);
    this.d.runs.set(record.id, run);
    if (record.canceledBy !== null) run.stopped = true;
    // Open targets may have been sent before (only final states are stored).
    for (const t of targets) if (!FINAL_STATES.has(t.state)) run.resent.add(t.nodeId);
    return run;
  }
}

import { COMMAND_ACCEPT_GRACE_MS, FleetError } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import type { RunClaims } from '../replicas/run-followers.js';
import type { NodeRegistry } from '../services/node-registry.js';
import type { AgentEventRecord, Store } from '../store/store.js';
import type { ActiveRun } from './active-run.js';
import { noScripts, type RunScriptLookup } from './command-frame.js';
import { applyHostReport, isRunEventKind, runIdOf } from './host-reports.js';
import { RunAdoption } from './run-adoption.js';
import { catchUp } from './run-catch-up.js';
import { RunReads } from './run-reads.js';
import { RunScheduler, type FrameSender } from './run-scheduler.js';
import { RunSubmission, type SubmitResult } from './run-submission.js';
import { runView, type RunOutputView, type RunView } from './run-views.js';
import { RunWriter } from './run-writer.js';
import { SignedCancels } from './signed-cancels.js';
import { targetProblem } from './target-problem.js';

export type { RunScriptLookup } from './command-frame.js';
export type { SubmitResult } from './run-submission.js';

export interface RunServiceOptions {
  store: Store;
  registry: Pick<NodeRegistry, 'all' | 'labelsOf' | 'status' | 'resolve'>;
  gateway: FrameSender;
  hub: EventHub;
  clock: Clock;
  /** Default: no library (script commands are refused with not_found). */
  scriptLookup?: RunScriptLookup;
  /** Output kept per host per run (default 1 MiB); beyond it one truncation marker. */
  outputLimitBytes?: number;
  /** How long after issuedAt + timeoutMs hosts may still answer (default COMMAND_ACCEPT_GRACE_MS, 60 s: what hosts accept). */
  graceMs?: number;
  /** How far in the future issuedAt may be (operator clock skew; default 5 min). */
  futureSkewMs?: number;
  /** How long a finished run stays in memory for late results and fast reads (default 10 min). */
  retainMs?: number;
  /** Store write tick (default 100 ms; hosts' reports are announced at once, only the write waits). */
  flushDelayMs?: number;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /**
   * Which replica follows each active run (replicas/run-followers.ts): a run is taken up only
   * when no live replica follows it, at start and when its follower dies.
   */
  claims: RunClaims;
  /** How often runs whose follower died are looked for (default 5 s). */
  adoptEveryMs?: number;
}

/**
 * Command fan-out (issue 4): takes an operator-signed command, resolves its selector to hosts,
 * records the run, rolls it out in batches over the agents' sessions and follows what each host
 * reports until every target is final. The server only routes: each host verifies the signature
 * and the capability chain itself before it runs anything.
 *
 * This class owns the runs it follows and wires the parts: run-submission.ts takes a command,
 * run-scheduler.ts rolls it out, host-reports.ts applies what hosts say, run-adoption.ts takes up
 * runs from the store (at start, and when another replica's follower dies), run-reads.ts answers.
 */
export class RunService {
  private readonly runs = new Map<string, ActiveRun>();
  private readonly writer: RunWriter;
  private readonly scheduler: RunScheduler;
  private readonly signedCancels: SignedCancels;
  private readonly submission: RunSubmission;
  private readonly adoption: RunAdoption;
  private readonly reads: RunReads;
  private readonly outputLimit: number;
  private timer: NodeJS.Timeout | null = null;
  private lastAdoptAt = 0;

  constructor(private readonly o: RunServiceOptions) {
    this.writer = new RunWriter({ store: o.store, log: o.log, ...(o.flushDelayMs === undefined ? {} : { delayMs: o.flushDelayMs }) });
    this.scheduler = new RunScheduler({
      gateway: o.gateway,
      hub: o.hub,
      clock: o.clock,
      writer: this.writer,
      targetProblem: (run, nodeId) => targetProblem(o.registry, run, nodeId),
    });
    this.signedCancels = new SignedCancels(o.gateway, o.store);
    this.outputLimit = o.outputLimitBytes ?? 1024 * 1024;
    const scriptLookup = o.scriptLookup ?? noScripts;
    this.submission = new RunSubmission({
      store: o.store,
      registry: o.registry,
      hub: o.hub,
      clock: o.clock,
      claims: o.claims,
      runs: this.runs,
      scheduler: this.scheduler,
      scriptLookup,
      futureSkewMs: o.futureSkewMs ?? 5 * 60_000,
      graceMs: o.graceMs ?? COMMAND_ACCEPT_GRACE_MS,
    });
    this.adoption = new RunAdoption({
      store: o.store,
      claims: o.claims,
      log: o.log,
      runs: this.runs,
      scheduler: this.scheduler,
      scriptLookup,
      catchUp: (nodeId, runs) => this.catchUp(nodeId, runs),
    });
    this.reads = new RunReads({ store: o.store, registry: o.registry, runs: this.runs, flush: () => this.flush() });
  }

  /** Takes up the runs that were still going when the server stopped (and that no live replica follows). */
  async load(): Promise<void> {
    await this.adoption.loadActive();
    await this.signedCancels.restore(this.o.clock.now(), (msg) => this.o.log.warn({}, msg));
  }

  /** Checks deadlines every second. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref?.();
  }

  /** Stops the timer and writes what is pending. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.writer.close();
  }

  /** Resolves once the output taken so far is in run_output (the gateway acks an output item only then). */
  outputStored(): Promise<void> {
    return this.writer.settled();
  }

  /** Writes pending progress now (reads that must see everything call this first). */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** Deadlines (hosts that never answered become unreachable), forgetting old finished runs, and runs whose replica is gone. */
  tick(): void {
    const now = this.o.clock.now();
    const retain = this.o.retainMs ?? 10 * 60_000;
    this.signedCancels.prune(now);
    for (const run of [...this.runs.values()]) {
      if (!run.finished && now >= run.record.deadline) this.scheduler.expire(run);
      if (run.finished && now - Math.max(run.record.finishedAt ?? now, run.record.deadline) > retain) {
        this.runs.delete(run.id);
        this.o.claims.release(run.id).catch((err: Error) => this.o.log.warn({ runId: run.id, err: err.message }, 'could not forget a finished run'));
      }
    }
    if (now - this.lastAdoptAt >= (this.o.adoptEveryMs ?? 5000)) {
      this.lastAdoptAt = now;
      void this.adoption.adoptOrphans();
    }
  }

  /**
   * Submits a signed command (see SubmitRunRequest); `actor` is the API principal for the record.
   * `onlyNode` narrows the targets to one node of those the signed selector matches (a play's
   * part for one agent host: its hostname label may not be unique in the fleet).
   */
  submit(input: unknown, actor: string, onlyNode?: string): Promise<SubmitResult> {
    return this.submission.submit(input, actor, onlyNode);
  }

  /**
   * Cancels a run: hosts not started yet are canceled, hosts working on it get a `cancel` frame
   * (they kill the process group and report `canceled`). Conflict when the run already finished.
   * With `signed` (an operator's SignedCancel of this run's command), every target also gets the
   * signed cancel, now or when it reconnects, until the command's deadline: a host that has not
   * run the command refuses it forever (see SignedCancels). A signed cancel is taken for a
   * finished run too, as long as this server still follows it.
   */
  async cancel(runId: string, actor: string, signed?: unknown): Promise<RunView> {
    const run = this.runs.get(runId);
    if (run && signed !== undefined) {
      this.signedCancels.add(run.command, signed, run.targets.keys());
      // Durable before the answer: a restart must not lose what hosts still have to hear.
      await this.signedCancels.save();
    }
    if (!run || run.finished) {
      if (run && signed !== undefined) return runView(run.record);
      const stored = run?.record ?? (await this.o.store.getRun(runId));
      if (!stored) throw new FleetError('not_found', `no run '${runId}'`);
      if (stored.state !== 'running') throw new FleetError('conflict', `run '${runId}' already finished (${stored.state})`);
      throw new FleetError('unavailable', `run '${runId}' is not loaded on this server; try again after a restart`);
    }
    if (run.record.canceledBy !== null) return runView(run.record);
    run.record.canceledBy = actor;
    run.record.reason = `canceled by ${actor}`;
    // Even a run the failure threshold stopped is canceled: stop() runs again and finishes it if it can.
    run.stopped = false;
    this.scheduler.stop(run, run.record.reason, run.record.reason);
    this.scheduler.cancelInFlight(run);
    return runView(run.record);
  }

  /** Gateway hook: a stored outbox event; run events update their target. */
  onAgentEvent(event: AgentEventRecord): void {
    if (!isRunEventKind(event.kind)) return;
    const runId = runIdOf(event);
    const run = runId === null ? undefined : this.runs.get(runId);
    if (!run) return; // a run this server no longer follows (finished and forgotten): nothing to apply
    const target = run.targets.get(event.nodeId);
    if (!target) {
      this.o.log.warn({ runId, nodeId: event.nodeId, kind: event.kind }, 'a host reported on a run it is not a target of; ignored');
      return;
    }
    try {
      applyHostReport(
        { scheduler: this.scheduler, writer: this.writer, hub: this.o.hub, outputLimitBytes: this.outputLimit, log: this.o.log },
        run,
        target,
        event as AgentEventRecord & { kind: never },
      );
    } catch (err) {
      this.o.log.warn({ runId, nodeId: event.nodeId, err: (err as Error).message }, 'could not apply a run report');
    }
  }

  /** Gateway hook: a host's session is ready (deliver what waits for it). */
  onSessionReady(nodeId: string): void {
    // Cancels first: a host must know a command is canceled before anything could deliver it.
    this.signedCancels.onSessionReady(nodeId);
    const open: ActiveRun[] = [];
    for (const run of this.runs.values()) {
      if (run.finished) continue;
      this.scheduler.onSessionReady(run, nodeId);
      const state = run.targets.get(nodeId)?.state;
      if (state === 'sent' || state === 'running') open.push(run);
    }
    if (open.length > 0) void this.catchUp(nodeId, open);
  }

  /** Hosts working on runs on this node right now (for drains). */
  runningOn(nodeId: string): number {
    let n = 0;
    for (const run of this.runs.values()) {
      const state = run.targets.get(nodeId)?.state;
      if (state === 'sent' || state === 'running') n++;
    }
    return n;
  }

  /** One run with all its targets; not_found when unknown. */
  get(runId: string): Promise<RunView> {
    return this.reads.get(runId);
  }

  /** Runs newest first, without targets (counts only). */
  list(query: { limit?: number; before?: number; active?: boolean } = {}): Promise<RunView[]> {
    return this.reads.list(query);
  }

  /** Stored output of a run in arrival order, optionally of one host (id, prefix or hostname). */
  output(query: { runId: string; node?: string; after?: number; limit?: number }): Promise<{ items: RunOutputView[]; next: number | null }> {
    return this.reads.output(query);
  }

  /** The live run, when this server follows it (the SSE stream reads it). */
  live(runId: string): ActiveRun | undefined {
    return this.runs.get(runId);
  }

  /** Whether the run's signed cancel was given (the view and the audit say so). */
  signedCancelOf(runId: string): { iss: string; at: number } | null {
    const c = this.signedCancels.get(runId);
    return c ? { iss: c.payload.iss, at: c.payload.at } : null;
  }

  /** Applies the host's stored reports on the runs (run-catch-up.ts). */
  private catchUp(nodeId: string, runs: ActiveRun[]): Promise<void> {
    return catchUp({ store: this.o.store, log: this.o.log, apply: (event) => this.onAgentEvent(event) }, nodeId, runs);
  }
}

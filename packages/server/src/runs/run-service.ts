import {
  COMMAND_ACCEPT_GRACE_MS,
  FleetError,
  MAX_FRAME_BYTES,
  SignedCommand,
  capabilityId,
  commandAbilities,
  matchesSelector,
  parseSelector,
  type ScriptSignature,
  type ServerFrame,
} from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import type { NodeRegistry } from '../services/node-registry.js';
import type { AgentEventRecord, RunRecord, RunTargetRecord, Store } from '../store/store.js';
import { ActiveRun } from './active-run.js';
import { resolveBatchPolicy, splitBatches, type BatchPolicy } from './batch-policy.js';
import { commandSummary } from './command-summary.js';
import { applyHostReport, isRunEventKind, runIdOf } from './host-reports.js';
import { FINAL_STATES, compactCounts, emptyCounts } from './run-outcome.js';
import { RunScheduler, type FrameSender } from './run-scheduler.js';
import { outputView, runView, type RunOutputView, type RunView } from './run-views.js';
import { RunWriter } from './run-writer.js';
import { SignedCancels } from './signed-cancels.js';
import { parseSubmitRequest } from './submit-request.js';
import type { RunClaims } from '../replicas/run-followers.js';

/** Finds a library script's content and signature (scripts/script-library.ts); null: no such version. */
export type RunScriptLookup = (name: string, version: number) => Promise<{ content: string; signature: ScriptSignature | null } | null>;

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

/** The answer to a submission. */
export interface SubmitResult {
  id: string;
  state: RunRecord['state'];
  targets: Array<{ nodeId: string; hostname: string; batch: number; state: RunTargetRecord['state'] }>;
  run: RunView;
}

const noScripts: RunScriptLookup = async () => null;

/**
 * Command fan-out (issue 4): takes an operator-signed command, resolves its selector to hosts,
 * records the run, rolls it out in batches over the agents' sessions and follows what each host
 * reports until every target is final. The server only routes: each host verifies the signature
 * and the capability chain itself before it runs anything.
 */
export class RunService {
  private readonly runs = new Map<string, ActiveRun>();
  private readonly writer: RunWriter;
  private readonly scheduler: RunScheduler;
  private readonly signedCancels: SignedCancels;
  private readonly outputLimit: number;
  private timer: NodeJS.Timeout | null = null;
  private lastAdoptAt = 0;
  private adopting = false;
  /** Active runs whose stored command cannot be followed: looked at once, not every tick. */
  private readonly unloadable = new Set<string>();

  constructor(private readonly o: RunServiceOptions) {
    this.writer = new RunWriter({ store: o.store, log: o.log, ...(o.flushDelayMs === undefined ? {} : { delayMs: o.flushDelayMs }) });
    this.scheduler = new RunScheduler({
      gateway: o.gateway,
      hub: o.hub,
      clock: o.clock,
      writer: this.writer,
      targetProblem: (run, nodeId) => this.targetProblem(run, nodeId),
    });
    this.signedCancels = new SignedCancels(o.gateway, o.store);
    this.outputLimit = o.outputLimitBytes ?? 1024 * 1024;
  }

  /** Takes up the runs that were still going when the server stopped (and that no live replica follows). */
  async load(): Promise<void> {
    for (const record of await this.o.store.listRuns({ active: true, limit: 10_000 })) {
      if (!(await this.o.claims.claim(record.id))) continue;
      const run = await this.adopt(record);
      // Hosts not confirmed yet wait for their sessions (nobody is connected this early).
      if (run) this.scheduler.pump(run);
    }
    await this.signedCancels.restore(this.o.clock.now(), (msg) => this.o.log.warn({}, msg));
  }

  /** Builds the run's state from the store and follows it; null when its command cannot be followed. */
  private async adopt(record: RunRecord): Promise<ActiveRun | null> {
    const command = SignedCommand.safeParse(record.command);
    if (!command.success) {
      this.unloadable.add(record.id);
      this.o.log.warn({ runId: record.id }, 'a stored run holds no valid command; left as it is');
      return null;
    }
    const frame = await this.frameFor(command.data).catch(() => null);
    if (!frame) {
      this.unloadable.add(record.id);
      return null;
    }
    const targets = await this.o.store.listRunTargets(record.id);
    const policy = resolveBatchPolicy((record.batch as { asked?: never } | null)?.asked, targets.length);
    const run = new ActiveRun(record, command.data, frame, policy, targets);
    this.runs.set(record.id, run);
    if (record.canceledBy !== null) run.stopped = true;
    // Open targets may have been sent before (only final states are stored).
    for (const t of targets) if (!FINAL_STATES.has(t.state)) run.resent.add(t.nodeId);
    return run;
  }

  /**
   * Runs whose follower is gone (its replica was killed or stopped mid-run): taken up here. What
   * their hosts reported to the gone follower is in the store and is applied first; then the
   * batches go on and hosts that are connected get what they have not confirmed.
   */
  private async adoptOrphans(): Promise<void> {
    if (this.adopting) return;
    this.adopting = true;
    try {
      // A replica paused past its directory entry (SIGSTOP, a frozen VM) finds its runs taken up by others: it lets them go.
      for (const run of [...this.runs.values()]) {
        if (run.finished || (await this.o.claims.claim(run.id))) continue;
        this.runs.delete(run.id);
        this.o.log.warn({ runId: run.id }, 'another replica follows this run now; letting it go');
      }
      for (const record of await this.o.store.listRuns({ active: true, limit: 10_000 })) {
        if (this.runs.has(record.id) || this.unloadable.has(record.id)) continue;
        if (!(await this.o.claims.claim(record.id))) continue;
        const run = await this.adopt(record);
        if (!run) continue;
        this.o.log.warn({ runId: run.id }, 'took up a run whose replica is gone');
        const open = [...run.targets.values()].filter((t) => !FINAL_STATES.has(t.state)).map((t) => t.nodeId);
        await Promise.all(open.map((nodeId) => this.catchUp(nodeId, [run])));
        this.scheduler.pump(run);
        for (const nodeId of open) this.scheduler.onSessionReady(run, nodeId);
        this.scheduler.finishIfDone(run);
      }
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'could not look for runs whose replica is gone');
    } finally {
      this.adopting = false;
    }
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

  /** Deadlines (hosts that never answered become unreachable) and forgetting old finished runs. */
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
      void this.adoptOrphans();
    }
  }

  /**
   * Submits a signed command (see SubmitRunRequest); `actor` is the API principal for the record.
   * `onlyNode` narrows the targets to one node of those the signed selector matches (a play's
   * part for one agent host: its hostname label may not be unique in the fleet).
   */
  async submit(input: unknown, actor: string, onlyNode?: string): Promise<SubmitResult> {
    const { command, batch } = parseSubmitRequest(input);
    const p = command.payload;
    const now = this.o.clock.now();
    if (!commandAbilities(p.command).includes(p.ability)) {
      throw new FleetError(
        'invalid_argument',
        `payload.ability '${p.ability}' does not cover a '${p.command.kind}' command (it needs ${commandAbilities(p.command).join(' or ')})`,
      );
    }
    if (p.issuedAt > now + (this.o.futureSkewMs ?? 5 * 60_000)) {
      throw new FleetError(
        'invalid_argument',
        `payload.issuedAt ${new Date(p.issuedAt).toISOString()} is in the future: check the clock of the machine that signed it`,
      );
    }
    // By default the hosts' own acceptance deadline (commandDeadline): the server never waits on a host that would refuse the command as late.
    const deadline = p.issuedAt + p.timeoutMs + (this.o.graceMs ?? COMMAND_ACCEPT_GRACE_MS);
    if (deadline <= now) {
      throw new FleetError('invalid_argument', `the command was issued at ${new Date(p.issuedAt).toISOString()} and its timeout has passed: sign it again`);
    }
    if (this.runs.has(p.runId) || (await this.o.store.getRun(p.runId)) !== undefined) {
      throw new FleetError('already_exists', `run id '${p.runId}' was used before: every command needs a new runId`);
    }
    const selector = parseSelector(p.target);
    const frame = await this.frameFor(command);
    // An agent closes its link on a frame over the limit and the run would be re-sent on every reconnect: refuse it here.
    const frameBytes = Buffer.byteLength(JSON.stringify(frame), 'utf8');
    if (frameBytes > MAX_FRAME_BYTES) {
      throw new FleetError(
        'invalid_argument',
        `the command frame would be ${frameBytes.toLocaleString('en-US')} bytes, over the ${MAX_FRAME_BYTES.toLocaleString('en-US')} an agent accepts: shorten the command or its environment`,
      );
    }
    const nodes = this.o.registry
      .all()
      .filter((n) => {
        const status = this.o.registry.status(n);
        if (onlyNode !== undefined && n.id !== onlyNode) return false;
        return status !== 'DECOMMISSIONED' && status !== 'PENDING' && matchesSelector(selector, this.o.registry.labelsOf(n.id));
      })
      .sort((a, b) => a.hostname.localeCompare(b.hostname) || a.id.localeCompare(b.id));
    if (nodes.length === 0) {
      const which = onlyNode === undefined ? 'no node of the fleet' : `not node ${onlyNode}`;
      throw new FleetError('invalid_argument', `target '${p.target}' matches ${which} (pending and removed nodes are never targets)`);
    }
    const policy = resolveBatchPolicy(batch, nodes.length);
    const targets: RunTargetRecord[] = [];
    splitBatches(nodes, policy.batchSize).forEach((group, b) => {
      for (const n of group)
        targets.push({
          runId: p.runId,
          nodeId: n.id,
          hostname: n.hostname,
          batch: b,
          state: 'queued',
          exitCode: null,
          signal: null,
          reason: null,
          sentAt: null,
          startedAt: null,
          finishedAt: null,
          durationMs: null,
          outputBytes: 0,
          truncated: false,
        });
    });
    const counts = emptyCounts();
    counts.queued = targets.length;
    const record: RunRecord = {
      id: p.runId,
      createdAt: now,
      createdBy: actor,
      invoker: p.invoker,
      capabilityId: p.capability ? capabilityId(p.capability) : null,
      ability: p.ability,
      selector: p.target,
      summary: commandSummary(p.command),
      command,
      batch: policyRecord(policy),
      state: 'running',
      counts: compactCounts(counts),
      reason: null,
      deadline,
      finishedAt: null,
      canceledBy: null,
    };
    // Claimed before it is stored: another replica looking for runs to take up must not take it.
    if (!(await this.o.claims.claim(p.runId))) throw new FleetError('already_exists', `run id '${p.runId}' is followed by another replica`);
    // Stored before anything is sent: a host's answer always finds its run.
    await this.o.store.insertRun(record, targets);
    const run = new ActiveRun(record, command, frame, policy, targets);
    this.runs.set(run.id, run);
    this.o.hub.publish({ type: 'run', runId: run.id, change: 'created', state: 'running' });
    this.scheduler.pump(run);
    return {
      id: run.id,
      state: run.record.state,
      targets: targets.map((t) => ({ nodeId: t.nodeId, hostname: t.hostname, batch: t.batch, state: t.state })),
      run: runView(run.record),
    };
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

  /**
   * Reports the host made that this server has not applied: with replicas, a host's session may
   * have been held by another replica that stored and acknowledged a report and then died before
   * passing it on. They are in the store; applying one again changes nothing (host-reports.ts),
   * so every stored report of the open runs is applied, oldest first.
   */
  private async catchUp(nodeId: string, runs: ActiveRun[]): Promise<void> {
    // Agent timestamps may run a little behind ours: five minutes of slack.
    const since = Math.min(...runs.map((r) => r.record.createdAt)) - 300_000;
    try {
      const events = await this.o.store.listAgentEvents({ nodeId, since, limit: 10_000 });
      const wanted = new Set(runs.map((r) => r.id));
      for (const event of events.reverse()) if (isRunEventKind(event.kind) && wanted.has(runIdOf(event) ?? '')) this.onAgentEvent(event);
    } catch (err) {
      this.o.log.warn({ nodeId, err: (err as Error).message }, 'could not read the stored run reports of a host that came back');
    }
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
  async get(runId: string): Promise<RunView> {
    const run = this.runs.get(runId);
    if (run) return runView(run.record, [...run.targets.values()]);
    const record = await this.o.store.getRun(runId);
    if (!record) throw new FleetError('not_found', `no run '${runId}'`);
    return runView(record, await this.o.store.listRunTargets(runId));
  }

  /** Runs newest first, without targets (counts only). */
  async list(query: { limit?: number; before?: number; active?: boolean } = {}): Promise<RunView[]> {
    const records = await this.o.store.listRuns(query);
    // Runs in memory are newer than their stored copy by up to one write tick.
    return records.map((r) => runView(this.runs.get(r.id)?.record ?? r));
  }

  /** Stored output of a run in arrival order, optionally of one host (id, prefix or hostname). */
  async output(query: { runId: string; node?: string; after?: number; limit?: number }): Promise<{ items: RunOutputView[]; next: number | null }> {
    const record = this.runs.get(query.runId)?.record ?? (await this.o.store.getRun(query.runId));
    if (!record) throw new FleetError('not_found', `no run '${query.runId}'`);
    const nodeId = query.node === undefined ? undefined : this.targetOf(query.runId, query.node);
    await this.flush();
    const limit = query.limit ?? 1000;
    const rows = await this.o.store.listRunOutput({
      runId: query.runId,
      ...(nodeId ? { nodeId } : {}),
      ...(query.after === undefined ? {} : { after: query.after }),
      limit,
    });
    return { items: rows.map(outputView), next: rows.length === limit ? rows[rows.length - 1]!.id : null };
  }

  /** The live run, when this server follows it (the SSE stream reads it). */
  live(runId: string): ActiveRun | undefined {
    return this.runs.get(runId);
  }

  private targetOf(runId: string, ref: string): string {
    const run = this.runs.get(runId);
    if (run?.targets.has(ref)) return ref;
    try {
      return this.o.registry.resolve(ref).id;
    } catch (err) {
      if (FleetError.is(err, 'not_found'))
        throw new FleetError('not_found', `no node '${ref}' (give an id, an id prefix or a hostname of one of the run's hosts)`);
      throw err;
    }
  }

  /** Whether the run's signed cancel was given (the view and the audit say so). */
  signedCancelOf(runId: string): { iss: string; at: number } | null {
    const c = this.signedCancels.get(runId);
    return c ? { iss: c.payload.iss, at: c.payload.at } : null;
  }

  /**
   * Why a target must not get its command now (checked right before the first send): the node
   * was removed or is pending, or it no longer matches the command's signed selector in the
   * server's view of its labels (they changed since the submit). The host checks the selector
   * against its own labels too; this keeps the command, and the env values in it, from ever
   * leaving the server for a host outside the selector.
   */
  private targetProblem(run: ActiveRun, nodeId: string): string | null {
    let node;
    try {
      node = this.o.registry.resolve(nodeId);
    } catch {
      return 'the node is no longer in the fleet';
    }
    if (node.id !== nodeId) return 'the node is no longer in the fleet';
    const status = this.o.registry.status(node);
    if (status === 'DECOMMISSIONED' || status === 'PENDING') return `the node is ${status}`;
    if (!matchesSelector(run.selector, this.o.registry.labelsOf(nodeId)))
      return `the node no longer matches the signed target '${run.command.payload.target}' (its labels changed after the submit)`;
    return null;
  }

  /** The frame every target gets; for a library script, with its content and signature. */
  private async frameFor(command: SignedCommand): Promise<ServerFrame> {
    const spec = command.payload.command;
    if (spec.kind !== 'script') return { t: 'command', body: { command, scriptContent: null, scriptSignature: null } };
    const found = await (this.o.scriptLookup ?? noScripts)(spec.name, spec.version);
    if (!found) throw new FleetError('not_found', `script '${spec.name}' version ${spec.version} is not in the library (see gpufleet scripts ls)`);
    return { t: 'command', body: { command, scriptContent: found.content, scriptSignature: found.signature } };
  }
}

/** The batch policy as stored with the run. */
function policyRecord(p: BatchPolicy): unknown {
  return { maxParallel: p.maxParallel, batchSize: p.batchSize, failureThreshold: p.failureThreshold, asked: p.asked };
}

import { chmod, mkdir } from 'node:fs/promises';
import {
  FleetError,
  type PlayEventView,
  type PlayPlanView,
  type PlayState,
  type PlayView,
  type SignedCommand,
  type StartPlayRequest,
} from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { NodeGroups, SshHostDirectory } from '../jobcenter/job-center-contracts.js';
import type { ActionAudit } from '../services/audit-log.js';
import type { PlayRunnerLink } from '../replicas/play-runners.js';
import type { PlayHostRecord, PlayRecord, Store } from '../store/store.js';
import type { PlayRuns } from './agent-play-part.js';
import { KILL_GRACE_MS } from './ansible-process.js';
import { cancelElsewhere } from './cancel-elsewhere.js';
import { eventView } from './play-log.js';
import { PlayExecution } from './play-execution.js';
import { endOrphanPlay, endOrphanPlays } from './play-orphans.js';
import { newPlay, planPlay, type PlayRequestDeps } from './play-request.js';
import { playView } from './play-views.js';
import { followStoredPlay } from './stored-play-follow.js';
import type { TemplateService } from './template-service.js';

/** What a follower of one play hears: each stored event, then the play's end. */
export type PlayUpdate = { type: 'event'; event: PlayEventView } | { type: 'end'; play: PlayView };
export type PlayListener = (update: PlayUpdate) => void;

export interface PlayServiceOptions {
  store: Store;
  clock: Clock;
  templates: TemplateService;
  /** Read at each use: the SSH hosts and groups services may be wired after this one. */
  sshHosts: () => SshHostDirectory;
  nodeGroups: () => NodeGroups;
  /** Agent hosts' parts go out as runs of the command fan-out. */
  runs: PlayRuns;
  /** Run folders go here (made 0700). */
  runsDir: string;
  ansiblePlaybook: string | null;
  sshpass: string | null;
  /** Which replica instance runs each play (issue 13): this one for the plays it starts. */
  runners: PlayRunnerLink;
  /** Plays running at once on this replica; the rest wait as PENDING (default 4). */
  maxConcurrent?: number;
  graceMs?: number;
  /** How often plays whose runner is gone are looked for (default 2 s). */
  orphansEveryMs?: number;
  /** How often a follower of a play another replica runs reads the store (default 250 ms). */
  followPollMs?: number;
  /** How long a cancel carried to another replica waits for the play to end (default the grace + 20 s). */
  remoteCancelWaitMs?: number;
  onError?: (err: unknown) => void;
}

const TERMINAL: readonly PlayState[] = ['SUCCEEDED', 'FAILED', 'CANCELED'];

/**
 * Plays: runs of a template with ansible-playbook on the SSH hosts a selector picks, one process
 * per play, at most `maxConcurrent` at once on this replica, each with a live log, per-host
 * counts, a timeout and cancel. Every start and cancel is audited.
 *
 * With several replicas (issue 13) a play is run by the replica instance that started it, as
 * recorded on the play: its process cannot move. Any replica answers for any play from the store
 * (a follower elsewhere reads the stored log), a cancel is carried to the runner, and every
 * replica ends the plays of an instance that is gone (a restart is a new instance).
 */
export class PlayService {
  private readonly queue: string[] = [];
  private readonly active = new Map<string, PlayExecution>();
  private readonly listeners = new Map<string, Set<PlayListener>>();
  private readonly stops: Array<() => void> = [];
  private orphanTimer: NodeJS.Timeout | null = null;
  private lookingForOrphans: Promise<number> | null = null;
  private stopped = false;

  constructor(private readonly o: PlayServiceOptions) {}

  /** At start: the plays whose runner is gone (this replica's previous process among them) end FAILED. */
  async load(): Promise<number> {
    await mkdir(this.o.runsDir, { recursive: true, mode: 0o700 });
    await chmod(this.o.runsDir, 0o700);
    return this.endOrphans();
  }

  /** Hears the cancels other replicas carry here, and ends orphaned plays every few seconds. */
  async serve(): Promise<void> {
    this.stops.push(await this.o.runners.onCancel((id) => void this.cancelAsked(id)));
    this.orphanTimer = setInterval(() => void this.endOrphans().catch((err) => this.onError(err)), this.o.orphansEveryMs ?? 2000);
    this.orphanTimer.unref?.();
  }

  /**
   * Ends the unfinished plays whose runner instance is not alive (FAILED, saying which replica
   * stopped), and lets go of the plays running here that another replica ended meanwhile (this
   * one was taken for dead: a long pause). Returns how many plays it ended.
   */
  endOrphans(): Promise<number> {
    this.lookingForOrphans ??= endOrphanPlays({
      store: this.o.store,
      clock: this.o.clock,
      runners: this.o.runners,
      active: this.active,
      onError: (err) => this.onError(err),
    }).finally(() => (this.lookingForOrphans = null));
    return this.lookingForOrphans;
  }

  /** What a play would run on, and the parts of each agent host's signed command (nothing is stored). */
  async plan(req: StartPlayRequest): Promise<PlayPlanView> {
    if (this.stopped) throw new FleetError('unavailable', 'the server is stopping');
    return planPlay(req, this.requestDeps());
  }

  private requestDeps(): PlayRequestDeps {
    return {
      store: this.o.store,
      clock: this.o.clock,
      templates: this.o.templates,
      sshHosts: this.o.sshHosts(),
      nodeGroups: this.o.nodeGroups(),
      ansiblePlaybook: this.o.ansiblePlaybook,
    };
  }

  async start(req: StartPlayRequest, audit: ActionAudit): Promise<PlayView> {
    try {
      if (this.stopped) throw new FleetError('unavailable', 'the server is stopping');
      const { play, hosts, notes, commands, template } = await newPlay(req, this.requestDeps(), audit.actor, this.o.runners.self);
      const id = play.id;
      await this.o.store.insertPlay(play, hosts);
      // Queued before anything else is awaited: from now on this replica answers for the play.
      this.pending.set(id, { notes, commands });
      this.queue.push(id);
      await audit.note({
        action: 'play.start',
        target: id,
        result: 'ok',
        details: {
          template: `${template.name}@${template.version}`,
          selector: req.selector,
          hosts: hosts.length,
          agentHosts: commands.size,
          check: req.check,
          reason: req.reason ?? null,
        },
      });
      this.pump();
      return playView(play, hosts);
    } catch (err) {
      await audit.note({ action: 'play.start', target: req.template, result: 'error', details: { selector: req.selector, error: (err as Error).message } });
      throw err;
    }
  }

  /** What a queued play brings to its execution: notes for its log and the agent hosts' signed parts. */
  private readonly pending = new Map<string, { notes: string[]; commands: Map<string, SignedCommand> }>();

  /** Starts queued plays while there is room. */
  private pump(): void {
    const max = this.o.maxConcurrent ?? 4;
    while (!this.stopped && this.active.size < max && this.queue.length > 0) {
      const id = this.queue.shift()!;
      void this.launch(id).catch((err) => this.onError(err));
    }
  }

  private async launch(id: string): Promise<void> {
    const play = await this.o.store.getPlay(id);
    if (play?.state !== 'PENDING') return;
    const exec = new PlayExecution(
      {
        store: this.o.store,
        clock: this.o.clock,
        sshHosts: this.o.sshHosts(),
        nodeGroups: this.o.nodeGroups(),
        ansiblePlaybook: this.o.ansiblePlaybook,
        sshpass: this.o.sshpass,
        runsDir: this.o.runsDir,
        ...(this.o.graceMs === undefined ? {} : { graceMs: this.o.graceMs }),
        runs: this.o.runs,
        runnerInstance: this.o.runners.self.instance,
        publish: (event) => this.emit(id, { type: 'event', event }),
        onError: (err) => this.onError(err),
      },
      play,
      await this.o.store.listPlayHosts(id),
      this.pending.get(id)?.commands,
    );
    this.active.set(id, exec);
    for (const note of this.pending.get(id)?.notes ?? []) exec.note(note);
    this.pending.delete(id);
    const saver = setInterval(() => void exec.saveHosts().catch((err) => this.onError(err)), 500);
    try {
      await exec.done;
    } finally {
      clearInterval(saver);
      this.active.delete(id);
      this.pump();
      const view = await this.get(id).catch(() => null);
      if (view) this.emit(id, { type: 'end', play: view });
    }
  }

  /**
   * Cancels a play from any replica: here when it runs here, through its runner when another live
   * replica runs it; a play whose runner is gone cannot be stopped by anyone and ends as orphaned.
   */
  async cancel(id: string, audit: ActionAudit): Promise<PlayView> {
    try {
      const play = await this.record(id);
      if (TERMINAL.includes(play.state)) throw new FleetError('failed_precondition', `play ${id} already ended (${play.state})`);
      const details = { was: play.state, runner: play.runner?.replica ?? null };
      if (this.runsHere(id)) {
        await audit.note({ action: 'play.cancel', target: id, result: 'ok', details });
        await this.cancelHere(id);
      } else if (play.runner !== null && play.runner.instance !== this.o.runners.self.instance && this.o.runners.isAlive(play.runner)) {
        await cancelElsewhere({
          store: this.o.store,
          runners: this.o.runners,
          play: { ...play, runner: play.runner },
          waitMs: this.o.remoteCancelWaitMs ?? (this.o.graceMs ?? KILL_GRACE_MS) + 20_000,
          endOrphan: (p) => endOrphanPlay(this.o.store, this.o.clock, p),
        });
        await audit.note({ action: 'play.cancel', target: id, result: 'ok', details });
      } else {
        await endOrphanPlay(this.o.store, this.o.clock, play);
        await audit.note({ action: 'play.cancel', target: id, result: 'ok', details: { ...details, orphaned: true } });
      }
      return this.get(id);
    } catch (err) {
      if (!(err instanceof FleetError && err.code === 'not_found')) {
        await audit.note({ action: 'play.cancel', target: id, result: 'error', details: { error: (err as Error).message } });
      }
      throw err;
    }
  }

  /** Whether this replica instance runs the play (queued or running here). */
  private runsHere(id: string): boolean {
    return this.active.has(id) || this.pending.has(id) || this.queue.includes(id);
  }

  /** Another replica carried a cancel here (audited there). */
  private async cancelAsked(id: string): Promise<void> {
    try {
      if (this.runsHere(id)) await this.cancelHere(id);
    } catch (err) {
      this.onError(err);
    }
  }

  /** Stops the execution, or takes a queued play out of the queue; resolves once the play ended. */
  private async cancelHere(id: string): Promise<void> {
    const exec = this.active.get(id);
    if (exec) {
      exec.stop('canceled');
      await exec.done;
      return;
    }
    const queued = this.queue.indexOf(id);
    if (queued >= 0) this.queue.splice(queued, 1);
    this.pending.delete(id);
    const ended = await this.o.store.updatePlayWhile(
      id,
      { states: ['PENDING'], runnerInstance: this.o.runners.self.instance },
      { state: 'CANCELED', endedAt: this.o.clock.now() },
    );
    if (ended) {
      this.emit(id, { type: 'end', play: await this.get(id) });
      return;
    }
    // It was launched meanwhile: its execution is registered by now.
    const started = this.active.get(id);
    if (started) {
      started.stop('canceled');
      await started.done;
    }
  }

  private async record(id: string): Promise<PlayRecord> {
    const play = await this.o.store.getPlay(id);
    if (!play) throw new FleetError('not_found', `no play ${id}`);
    return play;
  }

  async get(id: string): Promise<PlayView> {
    const play = await this.record(id);
    return playView(play, this.hostsOf(id) ?? (await this.o.store.listPlayHosts(id)));
  }

  /** A running play's counts from memory: they are stored every half second. */
  private hostsOf(id: string): PlayHostRecord[] | null {
    const exec = this.active.get(id);
    return exec ? [...exec.hosts.values()] : null;
  }

  async list(query: { state?: PlayState; limit?: number } = {}): Promise<PlayView[]> {
    const plays = await this.o.store.listPlays(query);
    return Promise.all(plays.map(async (p) => playView(p, this.hostsOf(p.id) ?? (await this.o.store.listPlayHosts(p.id)))));
  }

  async events(id: string, after = 0, limit = 1000): Promise<{ items: PlayEventView[]; next: number }> {
    await this.record(id);
    const items = (await this.o.store.listPlayEvents(id, after, limit)).map(eventView);
    return { items, next: items.at(-1)?.seq ?? after };
  }

  /**
   * Follows one play: stored events as they are stored, then its end. A play another replica runs
   * is followed from the store, from the event after `after`.
   */
  subscribe(id: string, listener: PlayListener, after = 0): () => void {
    if (!this.runsHere(id)) {
      return followStoredPlay({
        store: this.o.store,
        playId: id,
        after,
        everyMs: this.o.followPollMs ?? 250,
        view: () => this.get(id),
        listener,
        onError: (err) => this.onError(err),
      });
    }
    let set = this.listeners.get(id);
    if (!set) {
      set = new Set();
      this.listeners.set(id, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(id) === set) this.listeners.delete(id);
    };
  }

  private emit(id: string, update: PlayUpdate): void {
    for (const l of this.listeners.get(id) ?? []) {
      try {
        l(update);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  /** Plays running now (for tests and shutdown). */
  get running(): number {
    return this.active.size;
  }

  /** Stops every running play (they end FAILED: the control plane stopped) and waits for them. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.orphanTimer) clearInterval(this.orphanTimer);
    this.orphanTimer = null;
    for (const stop of this.stops.splice(0)) stop();
    await this.lookingForOrphans?.catch(() => undefined);
    const running = [...this.active.values()];
    for (const exec of running) exec.stop('shutdown');
    await Promise.all(running.map((e) => e.done.catch(() => undefined)));
  }

  private onError(err: unknown): void {
    this.o.onError?.(err);
  }
}

import { randomBytes } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import { FleetError, type PlayEventView, type PlayState, type PlayView, type StartPlayRequest } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { NodeGroups, SshHostDirectory } from '../jobcenter/job-center-contracts.js';
import type { ActionAudit } from '../services/audit-log.js';
import type { PlayHostRecord, PlayRecord, Store } from '../store/store.js';
import { eventView } from './play-log.js';
import { checkIntegrity, NO_ANSIBLE, PlayExecution } from './play-execution.js';
import { checkExtraVars, pickHosts } from './play-hosts.js';
import { playView } from './play-views.js';
import { parseRunTimeout, type TemplateService } from './template-service.js';

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
  /** Run folders go here (made 0700). */
  runsDir: string;
  ansiblePlaybook: string | null;
  sshpass: string | null;
  /** Plays running at once; the rest wait as PENDING (default 4). */
  maxConcurrent?: number;
  graceMs?: number;
  onError?: (err: unknown) => void;
}

const TERMINAL: readonly PlayState[] = ['SUCCEEDED', 'FAILED', 'CANCELED'];

/**
 * Plays: runs of a template with ansible-playbook on the SSH hosts a selector picks, one process
 * per play, at most `maxConcurrent` at once, each with a live log, per-host counts, a timeout and
 * cancel. Every start and cancel is audited.
 */
export class PlayService {
  private readonly queue: string[] = [];
  private readonly active = new Map<string, PlayExecution>();
  private readonly listeners = new Map<string, Set<PlayListener>>();
  private stopped = false;

  constructor(private readonly o: PlayServiceOptions) {}

  /** At start: a play left RUNNING (or PENDING) by a previous process cannot go on; it ends FAILED. */
  async load(): Promise<number> {
    await mkdir(this.o.runsDir, { recursive: true, mode: 0o700 });
    await chmod(this.o.runsDir, 0o700);
    let ended = 0;
    for (const state of ['RUNNING', 'PENDING'] as const) {
      for (const p of await this.o.store.listPlays({ state, limit: 10_000 })) {
        const error = state === 'RUNNING' ? 'the control plane restarted during the play' : 'the control plane restarted before the play started';
        await this.o.store.updatePlay(p.id, { state: 'FAILED', endedAt: this.o.clock.now(), error });
        ended++;
      }
    }
    return ended;
  }

  async start(req: StartPlayRequest, audit: ActionAudit): Promise<PlayView> {
    try {
      if (this.stopped) throw new FleetError('unavailable', 'the server is stopping');
      if (this.o.ansiblePlaybook === null) throw new FleetError('failed_precondition', NO_ANSIBLE);
      const template = await this.o.templates.get(req.template, req.version);
      checkIntegrity(template);
      const extraVars = req.extraVars ?? {};
      checkExtraVars(extraVars);
      const timeoutMs = req.timeout === undefined ? template.timeoutMs : parseRunTimeout('timeout', req.timeout);
      const picked = await pickHosts(req.selector, this.o.nodeGroups(), this.o.sshHosts(), this.o.store);
      const id = `play_${randomBytes(8).toString('hex')}`;
      const play: PlayRecord = {
        id,
        template: template.name,
        templateVersion: template.version,
        selector: req.selector,
        serial: req.serial ?? null,
        maxFailPercentage: req.maxFailPercentage ?? null,
        check: req.check,
        extraVars,
        timeoutMs,
        state: 'PENDING',
        createdBy: audit.actor,
        createdAt: this.o.clock.now(),
        startedAt: null,
        endedAt: null,
        exitCode: null,
        error: null,
        reason: req.reason ?? null,
      };
      const hosts: PlayHostRecord[] = picked.ssh.map((h) => ({
        playId: id,
        nodeId: h.nodeId,
        hostname: h.hostname,
        ok: 0,
        changed: 0,
        failed: 0,
        unreachable: 0,
        skipped: 0,
        state: 'pending',
      }));
      await this.o.store.insertPlay(play, hosts);
      await audit.note({
        action: 'play.start',
        target: id,
        result: 'ok',
        details: {
          template: `${template.name}@${template.version}`,
          selector: req.selector,
          hosts: hosts.length,
          check: req.check,
          reason: req.reason ?? null,
        },
      });
      this.queue.push(id);
      this.pendingNotes.set(id, picked.agentOnly);
      this.pump();
      return playView(play, hosts);
    } catch (err) {
      await audit.note({ action: 'play.start', target: req.template, result: 'error', details: { selector: req.selector, error: (err as Error).message } });
      throw err;
    }
  }

  private readonly pendingNotes = new Map<string, string[]>();

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
        publish: (event) => this.emit(id, { type: 'event', event }),
        onError: (err) => this.onError(err),
      },
      play,
      await this.o.store.listPlayHosts(id),
    );
    this.active.set(id, exec);
    const agentOnly = this.pendingNotes.get(id) ?? [];
    this.pendingNotes.delete(id);
    if (agentOnly.length > 0) exec.note(`not run on ${agentOnly.length} agent node(s), which plays cannot reach yet: ${agentOnly.join(', ')}`);
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

  async cancel(id: string, audit: ActionAudit): Promise<PlayView> {
    try {
      const play = await this.record(id);
      if (TERMINAL.includes(play.state)) throw new FleetError('failed_precondition', `play ${id} already ended (${play.state})`);
      const queued = this.queue.indexOf(id);
      const exec = this.active.get(id);
      if (exec) {
        exec.stop('canceled');
        await audit.note({ action: 'play.cancel', target: id, result: 'ok', details: { was: play.state } });
        await exec.done;
      } else {
        if (queued >= 0) this.queue.splice(queued, 1);
        await this.o.store.updatePlay(id, { state: 'CANCELED', endedAt: this.o.clock.now() });
        await audit.note({ action: 'play.cancel', target: id, result: 'ok', details: { was: play.state } });
        this.emit(id, { type: 'end', play: await this.get(id) });
      }
      return this.get(id);
    } catch (err) {
      if (!(err instanceof FleetError && err.code === 'not_found')) {
        await audit.note({ action: 'play.cancel', target: id, result: 'error', details: { error: (err as Error).message } });
      }
      throw err;
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

  /** Follows one play: stored events as they are stored, then its end. */
  subscribe(id: string, listener: PlayListener): () => void {
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
    const running = [...this.active.values()];
    for (const exec of running) exec.stop('shutdown');
    await Promise.all(running.map((e) => e.done.catch(() => undefined)));
  }

  private onError(err: unknown): void {
    this.o.onError?.(err);
  }
}

import { randomBytes } from 'node:crypto';
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
import type { PlayHostRecord, PlayRecord, Store, TemplateRecord } from '../store/store.js';
import { expectedScript, matchAgentCommands, planAgentHosts } from './agent-hosts-plan.js';
import type { PlayRuns } from './agent-play-part.js';
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
  /** Agent hosts' parts go out as runs of the command fan-out. */
  runs: PlayRuns;
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

  /** What a play would run on, and the parts of each agent host's signed command (nothing is stored). */
  async plan(req: StartPlayRequest): Promise<PlayPlanView> {
    const { template, extraVars, timeoutMs, picked } = await this.prepare(req);
    return {
      template: {
        name: template.name,
        version: template.version,
        sha256: template.sha256,
        playbook: template.playbook,
        become: template.become,
        vars: template.vars,
      },
      ssh: picked.ssh,
      agents: await planAgentHosts(picked.agents, extraVars, this.o.nodeGroups()),
      extraVars,
      check: req.check,
      timeoutMs,
    };
  }

  private async prepare(req: StartPlayRequest) {
    if (this.stopped) throw new FleetError('unavailable', 'the server is stopping');
    const template = await this.o.templates.get(req.template, req.version);
    checkIntegrity(template);
    const extraVars = req.extraVars ?? {};
    checkExtraVars(extraVars);
    const timeoutMs = req.timeout === undefined ? template.timeoutMs : parseRunTimeout('timeout', req.timeout);
    const picked = await pickHosts(req.selector, this.o.nodeGroups(), this.o.sshHosts(), this.o.store);
    if (picked.ssh.length > 0 && this.o.ansiblePlaybook === null) throw new FleetError('failed_precondition', NO_ANSIBLE);
    return { template, extraVars, timeoutMs, picked };
  }

  /** The agent hosts' signed parts, matched to the hosts; the agent hosts left out when none were given. */
  private async agentParts(
    req: StartPlayRequest,
    template: TemplateRecord,
    extraVars: Record<string, unknown>,
    agents: { nodeId: string; hostname: string }[],
  ) {
    if (req.agentCommands === undefined || agents.length === 0) {
      if (req.agentCommands !== undefined && req.agentCommands.length > 0)
        throw new FleetError('invalid_argument', 'agentCommands: the selector picks no agent host');
      return { commands: new Map<string, SignedCommand>(), leftOut: agents.map((a) => a.hostname), notes: [] as string[] };
    }
    const planned = await planAgentHosts(agents, extraVars, this.o.nodeGroups());
    const commands = matchAgentCommands(req.agentCommands, planned, (h) => expectedScript(template, h, extraVars, req.check));
    return { commands, leftOut: [] as string[], notes: planned.flatMap((h) => h.notes) };
  }

  async start(req: StartPlayRequest, audit: ActionAudit): Promise<PlayView> {
    try {
      const { template, extraVars, timeoutMs, picked } = await this.prepare(req);
      const parts = await this.agentParts(req, template, extraVars, picked.agents);
      if (picked.ssh.length === 0 && parts.commands.size === 0) {
        throw new FleetError(
          'failed_precondition',
          `selector '${req.selector}' picks only agent hosts (${parts.leftOut.slice(0, 5).join(', ')}): their parts run as commands signed with your operator key (gpufleet plays run ... --key NAME signs them)`,
        );
      }
      const runsOn = [...picked.ssh, ...picked.agents.filter((a) => parts.commands.has(a.nodeId))];
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
      const hosts: PlayHostRecord[] = runsOn.map((h) => ({
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
          agentHosts: parts.commands.size,
          check: req.check,
          reason: req.reason ?? null,
        },
      });
      this.queue.push(id);
      const notes = [...parts.notes];
      if (parts.leftOut.length > 0)
        notes.push(
          `not run on ${parts.leftOut.length} agent host(s), whose parts were not signed (gpufleet plays run --key signs them): ${parts.leftOut.join(', ')}`,
        );
      this.pending.set(id, { notes, commands: parts.commands });
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
        this.pending.delete(id);
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

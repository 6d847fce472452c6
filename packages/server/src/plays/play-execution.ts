import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetError, type PlayEventView, type RunTargetState, type SignedCommand } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { NodeGroups, SshHostDirectory } from '../jobcenter/job-center-contracts.js';
import type { PlayHostRecord, PlayRecord, PlayStateRecord, Store, TemplateRecord } from '../store/store.js';
import { parseAnsibleLine, type HostRecap, type ParsedEvent } from './ansible-jsonl.js';
import { AgentPlayPart, batchSizeOf, type PlayRuns } from './agent-play-part.js';
import { startAnsible, type AnsibleRun } from './ansible-process.js';
import { PlayLog } from './play-log.js';
import { formatDuration } from './play-views.js';
import { runHosts } from './play-hosts.js';
import { withRolling } from './playbook-text.js';
import { closeMasters, writeRunFolder } from './run-folder.js';
import { sha256Hex } from './template-service.js';

export interface ExecutionDeps {
  store: Store;
  clock: Clock;
  sshHosts: SshHostDirectory;
  nodeGroups: NodeGroups;
  /** ansible-playbook's path, or null when it is not installed. */
  ansiblePlaybook: string | null;
  sshpass: string | null;
  /** Where run folders go (0700): one per play, emptied but for artifacts.json at the end. */
  runsDir: string;
  graceMs?: number;
  /** Agent hosts' parts go out through the command fan-out. */
  runs: PlayRuns;
  /** This replica instance: the play's writes land only while it is still the play's runner. */
  runnerInstance: string;
  publish: (event: PlayEventView) => void;
  onError: (err: unknown) => void;
}

/** Why a play stopped before ansible-playbook started. */
const STOPPED_EARLY = {
  canceled: 'canceled before ansible-playbook started',
  timeout: 'timed out before ansible-playbook started',
  shutdown: 'the control plane stopped before the play started',
} as const;

export const NO_ANSIBLE = 'ansible-playbook is not installed on the server: apt-get install ansible (Debian/Ubuntu), or put it on the PATH of gpufleet server';

/**
 * One play from RUNNING to its end: the run folder, ansible-playbook, its events into the log and
 * each host's counts, then the end state. `cancel` and the timeout stop the process group.
 */
export class PlayExecution {
  readonly hosts: Map<string, PlayHostRecord>;
  private run: AnsibleRun | null = null;
  private agentPart: AgentPlayPart | null = null;
  private stopReason: 'canceled' | 'timeout' | 'shutdown' | null = null;
  private recapSeen = false;
  private lastError = '';
  private dirty = new Set<string>();
  /** Set once the play's end is being written: a stop then changes nothing. */
  finishing = false;
  readonly log: PlayLog;
  readonly done: Promise<PlayStateRecord>;

  constructor(
    private readonly d: ExecutionDeps,
    readonly play: PlayRecord,
    hosts: PlayHostRecord[],
    /** The signed part of each agent host (by node id); every other host is reached over SSH. */
    private readonly agentCommands: ReadonlyMap<string, SignedCommand> = new Map(),
  ) {
    this.hosts = new Map(hosts.map((h) => [h.hostname, { ...h }]));
    this.log = new PlayLog({ playId: play.id, store: d.store, clock: d.clock, publish: d.publish, onError: d.onError });
    this.done = this.execute();
  }

  /** Stops the process (SIGINT, SIGKILL after the grace); before it started, the play ends at once. */
  stop(reason: 'canceled' | 'shutdown'): void {
    this.stopReason ??= reason;
    this.run?.stop();
    this.agentPart?.stop();
  }

  note(message: string): void {
    this.log.add({ kind: 'output', host: null, task: null, status: null, message });
  }

  private async execute(): Promise<PlayStateRecord> {
    const { store, clock } = this.d;
    const dir = join(this.d.runsDir, this.play.id);
    let state: PlayStateRecord = 'FAILED';
    let error: string | null = null;
    let exitCode: number | null = null;
    let timer: NodeJS.Timeout | null = null;
    try {
      const mine = { states: ['PENDING'] as const, runnerInstance: this.d.runnerInstance };
      // Canceled while it waited, or ended by a replica that took this one for dead: not run.
      if (!(await store.updatePlayWhile(this.play.id, mine, { state: 'RUNNING', startedAt: clock.now() }))) {
        this.finishing = true;
        return (await store.getPlay(this.play.id))?.state ?? 'FAILED';
      }
      this.log.add({ kind: 'state', host: null, task: null, status: null, message: 'RUNNING' });
      const template = await store.getTemplate(this.play.template, this.play.templateVersion);
      if (!template) throw new FleetError('failed_precondition', `template ${this.play.template}@${this.play.templateVersion} is gone`);
      checkIntegrity(template);
      const sshHosts = [...this.hosts.values()].filter((h) => !this.agentCommands.has(h.nodeId));
      timer = setTimeout(() => {
        this.stopReason ??= 'timeout';
        this.run?.stop();
        this.agentPart?.stop();
      }, this.play.timeoutMs);
      const [ssh, agents] = await Promise.all([sshHosts.length === 0 ? Promise.resolve(null) : this.runSsh(dir, template, sshHosts), this.runAgents()]);
      exitCode = ssh?.code ?? null;
      if (this.stopReason === 'canceled') state = 'CANCELED';
      else if (this.stopReason === 'timeout') error = `timed out after ${formatDuration(this.play.timeoutMs)}`;
      else if (this.stopReason === 'shutdown') error = 'the control plane stopped during the play';
      else if ((ssh === null || ssh.code === 0) && agents.length === 0) state = 'SUCCEEDED';
      else error = [ssh !== null && ssh.code !== 0 ? this.failureSummary(ssh.code, ssh.signal) : null, ...agents].filter((x) => x !== null).join('; ');
    } catch (err) {
      if (this.stopReason === 'canceled') state = 'CANCELED';
      else if (this.stopReason !== null) error = STOPPED_EARLY[this.stopReason];
      else error = err instanceof Error ? err.message : String(err);
      this.agentPart?.stop();
    } finally {
      if (timer) clearTimeout(timer);
    }
    await this.finish(dir, state, exitCode, error);
    return state;
  }

  /** ansible-playbook over SSH for the SSH hosts; resolves with how the process ended. */
  private async runSsh(dir: string, template: TemplateRecord, sshHosts: PlayHostRecord[]): Promise<{ code: number | null; signal: string | null }> {
    if (this.d.ansiblePlaybook === null) throw new FleetError('failed_precondition', NO_ANSIBLE);
    const hosts = await runHosts(
      sshHosts.map((h) => ({ nodeId: h.nodeId, hostname: h.hostname })),
      this.play.extraVars,
      this.d.nodeGroups,
      this.d.sshHosts,
      (m) => this.note(m),
    );
    // Under the system temp folder: socket paths must stay under 108 bytes whatever the data dir is.
    const controlDir = await mkdtemp(join(tmpdir(), 'gpufleet-cp-'));
    try {
      const paths = await writeRunFolder({
        dir,
        playbook: withRolling(template.playbook, { serial: this.play.serial, maxFailPercentage: this.play.maxFailPercentage }),
        hosts,
        defaults: template.vars,
        extraVars: this.play.extraVars,
        sshpass: this.d.sshpass,
        controlDir,
      });
      if (this.stopReason !== null) throw new FleetError('failed_precondition', STOPPED_EARLY[this.stopReason]);
      const args = [paths.playbook, '-e', `@${paths.extraVars}`];
      if (this.play.check) args.push('--check');
      if (template.become) args.push('--become');
      this.run = startAnsible({
        program: this.d.ansiblePlaybook,
        args,
        cwd: dir,
        env: ansibleEnv(paths.config, dir),
        onStdout: (line) => this.onLine(line),
        onStderr: (line) => this.onStderrLine(line),
        ...(this.d.graceMs === undefined ? {} : { graceMs: this.d.graceMs }),
      });
      return await this.run.done;
    } finally {
      await closeMasters(controlDir);
    }
  }

  /** Each agent host's signed part, in batches; resolves with what went wrong (empty: all succeeded). */
  private async runAgents(): Promise<string[]> {
    if (this.agentCommands.size === 0) return [];
    const hosts = [...this.hosts.values()]
      .filter((h) => this.agentCommands.has(h.nodeId))
      .map((h) => ({ nodeId: h.nodeId, hostname: h.hostname, command: this.agentCommands.get(h.nodeId)! }));
    this.agentPart = new AgentPlayPart({
      runs: this.d.runs,
      actor: this.play.createdBy,
      hosts,
      batchSize: batchSizeOf(this.play.serial, hosts.length),
      maxFailPercentage: this.play.maxFailPercentage,
      onLine: (hostname, stream, line) => (stream === 'stdout' ? this.onAgentLine(hostname, line) : this.onAgentStderr(hostname, line)),
      onHostEnd: (hostname, state, detail) => this.onAgentEnd(hostname, state, detail),
      note: (m) => this.note(m),
    });
    if (this.stopReason !== null) this.agentPart.stop();
    const { failed, notStarted } = await this.agentPart.run();
    const problems: string[] = [];
    if (failed.length > 0) problems.push(`failed on agent host(s) ${failed.join(', ')}`);
    if (notStarted.length > 0) problems.push(`not started on ${notStarted.join(', ')}`);
    return problems;
  }

  /** A line of an agent host's ansible: its events count for that host only. */
  private onAgentLine(hostname: string, line: string): void {
    if (line.trim() === '') return;
    if (!line.trimStart().startsWith('{')) {
      this.log.add({ kind: 'output', host: hostname, task: null, status: null, message: line.slice(0, 2000) });
      return;
    }
    const parsed = parseAnsibleLine(line);
    for (const e of parsed.events) {
      if (e.host !== null && e.host !== hostname) continue;
      if (e.kind === 'play' || e.kind === 'task') {
        // Every agent host runs its own play: its play and task lines are kept, named by the host.
        this.log.add({ ...e, host: hostname });
        continue;
      }
      this.count(e);
      this.log.add(e);
    }
    // Not marked as the SSH part's recap: that one still tells whether ansible over SSH finished.
    if (parsed.recap?.[hostname]) this.applyRecap({ [hostname]: parsed.recap[hostname] }, false);
  }

  private onAgentStderr(hostname: string, line: string): void {
    if (line.trim() === '') return;
    this.log.add({ kind: 'output', host: hostname, task: null, status: null, message: line.slice(0, 2000) });
  }

  private onAgentEnd(hostname: string, state: RunTargetState, detail: string | null): void {
    const h = this.hosts.get(hostname);
    if (!h) return;
    if (state === 'unreachable') h.state = 'unreachable';
    else if (state !== 'succeeded') h.state = 'failed';
    else if (h.state === 'pending' || h.state === 'running') h.state = 'ok';
    this.dirty.add(hostname);
    if (detail !== null)
      this.log.add({ kind: 'output', host: hostname, task: null, status: null, message: `${hostname}: ${state.replace('_', ' ')}: ${detail}` });
  }

  private onLine(line: string): void {
    const parsed = parseAnsibleLine(line);
    for (const e of parsed.events) {
      this.count(e);
      this.log.add(e);
    }
    if (parsed.recap) this.applyRecap(parsed.recap);
  }

  private onStderrLine(line: string): void {
    if (line.trim() === '') return;
    if (/ERROR!|fatal|error/i.test(line)) this.lastError = line.trim();
    this.log.add({ kind: 'output', host: null, task: null, status: null, message: line.slice(0, 2000) });
  }

  private count(e: ParsedEvent): void {
    if (e.kind !== 'host' || e.host === null || e.status === null) return;
    const h = this.hosts.get(e.host);
    if (!h) return;
    if (h.state === 'pending') h.state = 'running';
    if (e.status === 'ok' || e.status === 'changed') h.ok++;
    if (e.status === 'changed') h.changed++;
    if (e.status === 'failed') h.failed++;
    if (e.status === 'skipped') h.skipped++;
    if (e.status === 'unreachable') h.unreachable++;
    this.dirty.add(e.host);
  }

  private applyRecap(recap: Record<string, HostRecap>, fromSsh = true): void {
    if (fromSsh) this.recapSeen = true;
    for (const [name, c] of Object.entries(recap)) {
      const h = this.hosts.get(name);
      if (!h) continue;
      Object.assign(h, c);
      h.state = c.unreachable > 0 ? 'unreachable' : c.failed > 0 ? 'failed' : 'ok';
      this.dirty.add(name);
    }
  }

  private failureSummary(code: number | null, signal: string | null): string {
    const failed = [...this.hosts.values()].filter((h) => h.state === 'failed').map((h) => h.hostname);
    const unreachable = [...this.hosts.values()].filter((h) => h.state === 'unreachable').map((h) => h.hostname);
    const parts = [signal ? `ansible-playbook ended by ${signal}` : `ansible-playbook exited ${code}`];
    if (failed.length > 0) parts.push(`failed on ${failed.join(', ')}`);
    if (unreachable.length > 0) parts.push(`unreachable: ${unreachable.join(', ')}`);
    if (failed.length === 0 && unreachable.length === 0 && this.lastError !== '') parts.push(this.lastError.slice(0, 500));
    return parts.join('; ');
  }

  /** Persists the counts that changed since the last call. */
  async saveHosts(): Promise<void> {
    const names = [...this.dirty];
    this.dirty.clear();
    for (const name of names) await this.d.store.updatePlayHost(this.hosts.get(name)!);
  }

  private async finish(dir: string, state: PlayStateRecord, exitCode: number | null, error: string | null): Promise<void> {
    // A host still running when the play ended without a recap did not finish its tasks.
    if (!this.recapSeen) {
      for (const h of this.hosts.values()) {
        if (h.state === 'running') {
          h.state = 'failed';
          this.dirty.add(h.hostname);
        }
      }
    }
    this.finishing = true;
    const endedAt = this.d.clock.now();
    try {
      const now = await this.d.store.getPlay(this.play.id);
      if (now?.state !== 'RUNNING' || now.runner?.instance !== this.d.runnerInstance) {
        await this.log.flush();
        this.d.onError(
          new FleetError('conflict', `play ${this.play.id} was ended by another replica (${now?.state ?? 'gone'}); its end here (${state}) is not recorded`),
        );
      } else {
        this.log.add({ kind: 'state', host: null, task: null, status: null, message: error === null ? state : `${state}: ${error}` });
        await this.log.flush();
        await this.saveHosts();
        await this.d.store.updatePlayWhile(this.play.id, { states: ['RUNNING'], runnerInstance: this.d.runnerInstance }, { state, endedAt, exitCode, error });
      }
    } catch (err) {
      this.d.onError(err);
    }
    // Keys and opened logins go; a small record of the run stays.
    await rm(dir, { recursive: true, force: true }).catch(this.d.onError);
    const artifacts = { playId: this.play.id, state, exitCode, error, endedAt, hosts: [...this.hosts.values()] };
    await mkdir(dir, { recursive: true, mode: 0o700 })
      .then(() => writeFile(join(dir, 'artifacts.json'), JSON.stringify(artifacts, null, 2), { mode: 0o600 }))
      .catch(this.d.onError);
  }
}

/** The stored playbook must still be what was added: its SHA-256 was taken then. */
export function checkIntegrity(t: TemplateRecord): void {
  const actual = sha256Hex(t.playbook);
  if (actual !== t.sha256) {
    throw new FleetError(
      'failed_precondition',
      `template ${t.name}@${t.version}: the stored playbook's SHA-256 is ${actual.slice(0, 12)}…, not ${t.sha256.slice(0, 12)}… as recorded; not run`,
    );
  }
}

/** A small environment: nothing of the server's own secrets reaches ansible or the hosts. */
function ansibleEnv(config: string, dir: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? dir,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    PYTHONUNBUFFERED: '1',
    ANSIBLE_CONFIG: config,
    ANSIBLE_STDOUT_CALLBACK: 'ansible.posix.jsonl',
    ANSIBLE_HOST_KEY_CHECKING: 'True',
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_FORCE_COLOR: '0',
    ANSIBLE_RETRY_FILES_ENABLED: '0',
    ANSIBLE_LOCAL_TEMP: join(dir, 'tmp'),
  };
}

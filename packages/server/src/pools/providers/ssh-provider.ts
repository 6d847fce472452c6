import { resolve } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { FleetError, type SshProviderSpec } from '@gpufleet/protocol';
import { checkMasterKey } from '../../trust/secret-box.js';
import {
  type CloudProvider,
  type InstanceTypeInfo,
  type ProviderContext,
  ProviderError,
  type ProviderInstance,
  type ProvisionRequest,
} from './cloud-provider.js';
import {
  type AgentSetup,
  agentUnitText,
  EXIT_AGENT_DIED,
  EXIT_NO_SYSTEMD,
  joinedScript,
  joinScript,
  probeAgentScript,
  remoteLine,
  startScript,
  stopScript,
} from './ssh-agent-scripts.js';
import { openCredential, readCredential, sealCredential, type SshSecret } from './ssh-credentials.js';
import { HostKeyPins } from './ssh-host-keys.js';
import { readHostsFile, type SshHost } from './ssh-hosts-file.js';
import { type SshLease, SshLeases } from './ssh-leases.js';
import { type ExecResult, SshSession, type SshTimeouts } from './ssh-session.js';

/**
 * The `ssh` provider: existing machines of a hosts file (ssh-hosts-file.ts). "Provision" takes a
 * free host, logs in over SSH (host key pinned on first use, credentials sealed at rest), makes
 * sure the agent is there (running `install_command` when it is not), joins it to the fleet with
 * the provision's single-use token and starts it (a systemd unit, or a background process on
 * hosts without systemd). "Terminate" stops it, removes the unit and the data dir, and frees the
 * host. Which host is held by which operation lives in the provider's state (ssh-leases.ts).
 */

export interface SshProviderOptions extends SshTimeouts {
  /** Each short command (checks, start, stop). */
  commandTimeoutMs: number;
  /** `install_command`, which may download and build. */
  installTimeoutMs: number;
  /** The agent's join (it enrolls with the server). */
  joinTimeoutMs: number;
}

export const SSH_PROVIDER_DEFAULTS: SshProviderOptions = {
  readyTimeoutMs: 15_000,
  keepaliveIntervalMs: 5_000,
  keepaliveCountMax: 3,
  commandTimeoutMs: 60_000,
  installTimeoutMs: 10 * 60_000,
  joinTimeoutMs: 2 * 60_000,
};

const credentialKey = (host: string) => `host/${host}/credential`;

/** Builds the provider; refuses at once (ProviderError 'invalid') without a master key, with a bad hosts file or an unusable credential. */
export function createSshProvider(spec: SshProviderSpec, ctx: ProviderContext, options: Partial<SshProviderOptions> = {}): CloudProvider {
  return new SshProvider(spec, ctx, { ...SSH_PROVIDER_DEFAULTS, ...options });
}

class SshProvider implements CloudProvider {
  readonly type = 'ssh' as const;
  readonly name: string;
  private readonly hosts: Map<string, SshHost>;
  private readonly masterKey: string;
  private readonly leases: SshLeases;
  private readonly pins: HostKeyPins;
  /** Credentials sealed into the state; every call waits for it. */
  private readonly ready: Promise<void>;
  private readonly sessions = new Set<SshSession>();
  /** Bootstraps running now, per host: a terminate waits for the one on its host. */
  private readonly bootstraps = new Map<string, Promise<unknown>>();
  /** Lease decisions one at a time, so two provisions never take the same host. */
  private leaseQueue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    spec: SshProviderSpec,
    private readonly ctx: ProviderContext,
    private readonly opts: SshProviderOptions,
  ) {
    this.name = ctx.name;
    const refuse = (why: string) => new ProviderError('invalid', `provider ${ctx.name}: ${why}`);
    if (ctx.masterKey === null) throw refuse('the ssh provider keeps credentials sealed with GPUFLEET_MASTER_KEY; set it');
    try {
      checkMasterKey(ctx.masterKey);
    } catch (err) {
      throw refuse((err as Error).message);
    }
    this.masterKey = ctx.masterKey;
    let hosts: SshHost[];
    try {
      hosts = readHostsFile(resolve(ctx.baseDir, spec.hostsFile), ctx.baseDir);
    } catch (err) {
      if (err instanceof FleetError) throw refuse(err.message);
      throw err;
    }
    this.hosts = new Map(hosts.map((h) => [h.name, h]));
    this.leases = new SshLeases(ctx.state);
    this.pins = new HostKeyPins(ctx.state, () => ctx.clock.now());
    const secrets = hosts.map((h) => readCredential(ctx.name, h, ctx.env));
    this.ready = this.sealCredentials(hosts, secrets);
    // Reported by every call that awaits it; not an unhandled rejection meanwhile.
    this.ready.catch(() => {});
  }

  private recordId(host: string): string {
    return `${this.name}/${credentialKey(host)}`;
  }

  /** Seals each host's credential into the state (scrypt is slow: one host per turn of the loop), and drops those of hosts no longer listed nor held. */
  private async sealCredentials(hosts: SshHost[], secrets: SshSecret[]): Promise<void> {
    for (let i = 0; i < hosts.length; i++) {
      await this.ctx.state.put(credentialKey(hosts[i]!.name), sealCredential(this.masterKey, this.recordId(hosts[i]!.name), secrets[i]!));
      await yieldToLoop();
    }
    const held = new Set((await this.leases.all()).map((l) => l.host));
    for (const { key } of await this.ctx.state.list()) {
      const m = /^host\/(.+)\/credential$/.exec(key);
      if (m && !this.hosts.has(m[1]!) && !held.has(m[1]!)) await this.ctx.state.delete(key);
    }
  }

  // ---- the interface ----

  async provision(req: ProvisionRequest): Promise<ProviderInstance> {
    return this.guard(async () => {
      const { lease, resumed } = await this.inLeaseQueue(() => this.takeHost(req));
      if (lease.stage === 'running') return instanceOf(lease);
      if (lease.stage === 'terminating') throw new ProviderError('invalid', `operation ${req.operationId}: its host ${lease.host} is being given back`);
      // The same operation asked twice at once: both get the one bootstrap.
      const inFlight = this.bootstraps.get(lease.host);
      if (inFlight) return (await inFlight) as ProviderInstance;
      const run = this.bootstrap(lease, req, resumed);
      this.bootstraps.set(lease.host, run);
      try {
        return await run;
      } finally {
        if (this.bootstraps.get(lease.host) === run) this.bootstraps.delete(lease.host);
      }
    });
  }

  async terminate(instanceId: string): Promise<void> {
    return this.guard(async () => {
      // A bootstrap still running on the host would start the agent after we stopped it.
      await this.bootstraps.get(instanceId)?.catch(() => {});
      const lease = await this.inLeaseQueue(async () => {
        const l = await this.leases.get(instanceId);
        if (l === null || l.stage === 'terminating') return l;
        const marked: SshLease = { ...l, stage: 'terminating' };
        await this.leases.put(marked);
        return marked;
      });
      // Not held: already given back (or never ours), which is not an error.
      if (lease === null) return;
      await this.cleanHost(lease);
      await this.leases.release(lease.host);
      this.ctx.log.info({ provider: this.name, host: lease.host, operationId: lease.operationId }, 'ssh provider: host given back');
    });
  }

  async list(): Promise<ProviderInstance[]> {
    return this.guard(async () => (await this.leases.all()).map(instanceOf));
  }

  async describe(instanceTypes: string[]): Promise<InstanceTypeInfo[]> {
    return this.guard(async () => {
      const held = new Set((await this.leases.all()).map((l) => l.host));
      const out: InstanceTypeInfo[] = [];
      for (const type of new Set(instanceTypes)) {
        const ofType = [...this.hosts.values()].filter((h) => h.instanceType === type);
        if (ofType.length === 0) continue;
        const zoned = ofType.some((h) => h.zone !== null);
        const freeZones = [...new Set(ofType.filter((h) => !held.has(h.name) && h.zone !== null).map((h) => h.zone!))];
        out.push({
          instanceType: type,
          gpus: sameOrLowest(ofType.map((h) => h.gpus)) ?? 0,
          gpuModel: sameOrNull(ofType.map((h) => h.gpuModel)),
          pricePerHour: sameOrLowest(ofType.map((h) => h.pricePerHour)),
          zonesWithCapacity: zoned ? freeZones : null,
        });
      }
      return out;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sessions) s.close();
    this.sessions.clear();
  }

  // ---- provision ----

  /** The lease of this operation (a repeated call), or a new one on a free host of the asked type and zone. */
  private async takeHost(req: ProvisionRequest): Promise<{ lease: SshLease; resumed: boolean }> {
    const leases = await this.leases.all();
    const mine = leases.find((l) => l.operationId === req.operationId);
    if (mine) return { lease: mine, resumed: true };
    const ofType = [...this.hosts.values()].filter((h) => h.instanceType === req.instanceType);
    if (ofType.length === 0) {
      const types = [...new Set([...this.hosts.values()].map((h) => h.instanceType))].join(', ');
      throw new ProviderError('invalid', `provider ${this.name}: no host of the hosts file has instance_type ${req.instanceType} (it has: ${types})`);
    }
    const inZone = req.zone === null ? ofType : ofType.filter((h) => h.zone === req.zone);
    const held = new Set(leases.map((l) => l.host));
    const free = inZone.find((h) => !held.has(h.name));
    if (!free) {
      const where = req.zone === null ? '' : ` in zone ${req.zone}`;
      const why =
        inZone.length === 0
          ? `no host of instance_type ${req.instanceType}${where}`
          : `all ${inZone.length} hosts of instance_type ${req.instanceType}${where} are in use`;
      throw new ProviderError('capacity', `provider ${this.name}: ${why}`, req.zone === null ? {} : { zone: req.zone });
    }
    const lease: SshLease = {
      host: free.name,
      operationId: req.operationId,
      pool: req.pool,
      instanceType: free.instanceType,
      zone: free.zone,
      address: free.address,
      pricePerHour: free.pricePerHour,
      stage: 'bootstrapping',
      leasedAt: this.ctx.clock.now(),
      target: {
        port: free.port,
        user: free.user,
        agentCommand: free.agentCommand,
        dataDir: free.dataDir,
        service: free.service,
        hostKey: free.hostKey,
      },
    };
    await this.leases.put(lease);
    this.ctx.log.info({ provider: this.name, host: free.name, operationId: req.operationId, pool: req.pool }, 'ssh provider: took host');
    return { lease, resumed: false };
  }

  /**
   * Sets the agent up on a held host. A failure before anything was changed there frees the
   * host; after, the host is cleaned first, and stays held (for terminate) when that fails too.
   */
  private async bootstrap(lease: SshLease, req: ProvisionRequest, resumed: boolean): Promise<ProviderInstance> {
    const host = this.hosts.get(lease.host);
    // A resumed lease may have been half done by a server that crashed: treat the host as changed.
    let touched = resumed;
    try {
      if (!host) throw new ProviderError('invalid', `provider ${this.name}: host ${lease.host} is no longer in the hosts file`);
      const setup = setupOf(lease);
      await this.withSession(lease, async (s) => {
        const run = (what: string, script: string, timeoutMs = this.opts.commandTimeoutMs, stdin?: string) =>
          s.exec(remoteLine(setup, script), { what, timeoutMs, ...(stdin !== undefined ? { stdin } : {}) }).then((r) => redacted(r, req.joinToken));
        let probe = await run('the agent check', probeAgentScript(setup));
        if (probe.code !== 0) {
          if (host.installCommand === null) {
            throw new ProviderError(
              'invalid',
              `host ${host.name}: the agent command \`${setup.agentCommand.join(' ')}\` does not run there (${exitText(probe)}); install the agent or give install_command in the hosts file`,
            );
          }
          touched = true;
          const installed = await run('install_command', host.installCommand, this.opts.installTimeoutMs);
          if (installed.code !== 0) throw new ProviderError('invalid', `host ${host.name}: install_command failed (${exitText(installed)})`);
          probe = await run('the agent check', probeAgentScript(setup));
          if (probe.code !== 0) {
            throw new ProviderError(
              'invalid',
              `host ${host.name}: install_command ran, but \`${setup.agentCommand.join(' ')}\` still does not run (${exitText(probe)})`,
            );
          }
        }
        const joined = await run('the joined check', joinedScript(setup));
        if (joined.code !== 0) {
          touched = true;
          const join = await run('the agent join', joinScript(setup, req.joinToken, host.labels), this.opts.joinTimeoutMs);
          if (join.code !== 0) throw joinFailure(host.name, join);
        }
        touched = true;
        const started = await run(
          'starting the agent',
          startScript(setup),
          this.opts.commandTimeoutMs,
          setup.service === 'systemd' ? agentUnitText(setup) : undefined,
        );
        if (started.code === EXIT_NO_SYSTEMD)
          throw new ProviderError('invalid', `host ${host.name}: service is systemd, but the host has no systemctl; use service: background`);
        if (started.code !== 0) {
          const why = started.code === EXIT_AGENT_DIED ? 'the agent stopped right after it started' : exitText(started);
          throw new ProviderError('invalid', `host ${host.name}: cannot start the agent: ${why}${tail(started.stderr)}`);
        }
      });
      const running: SshLease = { ...lease, stage: 'running' };
      await this.leases.put(running);
      this.ctx.log.info({ provider: this.name, host: lease.host, operationId: lease.operationId }, 'ssh provider: agent started');
      return instanceOf(running);
    } catch (err) {
      await this.afterFailedBootstrap(lease, touched, err);
      throw err;
    }
  }

  private async afterFailedBootstrap(lease: SshLease, touched: boolean, cause: unknown): Promise<void> {
    const log = { provider: this.name, host: lease.host, operationId: lease.operationId, error: (cause as Error).message };
    try {
      if (touched) await this.cleanHost(lease);
      await this.leases.release(lease.host);
      this.ctx.log.warn(log, 'ssh provider: provision failed; host freed');
    } catch (err) {
      this.ctx.log.warn(
        { ...log, cleanup: (err as Error).message },
        'ssh provider: provision failed and the host could not be cleaned; it stays held until terminated',
      );
    }
  }

  // ---- terminate ----

  private async cleanHost(lease: SshLease): Promise<void> {
    const setup = setupOf(lease);
    await this.withSession(lease, async (s) => {
      const r = await s.exec(remoteLine(setup, stopScript(setup)), { what: 'stopping the agent', timeoutMs: this.opts.commandTimeoutMs });
      if (r.code !== 0) throw new ProviderError('transient', `host ${lease.host}: removing the agent failed (${exitText(r)})`);
    });
  }

  // ---- plumbing ----

  /** Opens a session to the lease's host with its sealed credential, runs `fn`, and always closes it. */
  private async withSession<T>(lease: SshLease, fn: (s: SshSession) => Promise<T>): Promise<T> {
    const sealed = await this.ctx.state.get(credentialKey(lease.host));
    if (sealed === undefined)
      throw new ProviderError('auth', `provider ${this.name}: no credential is kept for host ${lease.host} (is it still in the hosts file?)`);
    const secret = openCredential(this.masterKey, this.recordId(lease.host), sealed);
    const target = { name: lease.host, address: lease.address, port: lease.target.port, user: lease.target.user };
    const session = await SshSession.open(
      target,
      secret,
      async (presented) => {
        const verdict = await this.pins.verify(lease.host, lease.target.hostKey, presented);
        if (verdict.ok && verdict.pinnedNow) {
          this.ctx.log.info(
            { provider: this.name, host: lease.host, hostKey: `${presented.algorithm} ${presented.fingerprint}` },
            'ssh provider: host key pinned',
          );
        }
        return verdict;
      },
      this.opts,
    );
    if (this.closed) {
      session.close();
      throw new ProviderError('invalid', `provider ${this.name} is closed`);
    }
    this.sessions.add(session);
    try {
      return await fn(session);
    } finally {
      this.sessions.delete(session);
      session.close();
    }
  }

  private inLeaseQueue<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.leaseQueue.then(fn, fn);
    this.leaseQueue = next.catch(() => {});
    return next;
  }

  /** Waits for the sealed credentials, refuses after close, and turns any other failure into a ProviderError. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new ProviderError('invalid', `provider ${this.name} is closed`);
    try {
      await this.ready;
      return await fn();
    } catch (err) {
      if (err instanceof ProviderError) throw err;
      throw new ProviderError('transient', `provider ${this.name}: ${(err as Error).message}`);
    }
  }
}

function setupOf(lease: SshLease): AgentSetup {
  return { agentCommand: lease.target.agentCommand, dataDir: lease.target.dataDir, service: lease.target.service, user: lease.target.user };
}

function instanceOf(lease: SshLease): ProviderInstance {
  return {
    id: lease.host,
    pool: lease.pool,
    operationId: lease.operationId,
    instanceType: lease.instanceType,
    zone: lease.zone,
    state: lease.stage === 'running' ? 'running' : lease.stage === 'terminating' ? 'stopping' : 'pending',
    address: lease.address,
    launchedAt: lease.leasedAt,
    pricePerHour: lease.pricePerHour,
  };
}

/** The join token never leaves in an error or a log, even when a remote program echoes it. */
function redacted(r: ExecResult, token: string): ExecResult {
  if (token === '') return r;
  const hide = (t: string) => t.split(token).join('<join token>');
  return { ...r, stdout: hide(r.stdout), stderr: hide(r.stderr) };
}

function exitText(r: ExecResult): string {
  const status = r.code !== null ? `exit ${r.code}` : `killed by ${r.signal}`;
  const line = tellingLine(r.stderr) || tellingLine(r.stdout);
  return line ? `${status}: ${line}` : status;
}

/** The line of a program's output that says most: the last one naming an error (a stack trace ends with the runtime's version), else the last. */
function tellingLine(text: string): string {
  const lines = text
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const error = lines.filter((l) => /error|not found|denied|refused|no such/i.test(l) && !/^at /.test(l)).pop();
  return (error ?? lines[lines.length - 1] ?? '').slice(0, 500);
}

function tail(text: string): string {
  const t = text.trim().split('\n').slice(-5).join(' | ').slice(0, 1000);
  return t ? ` (${t})` : '';
}

/** A join that failed for the network may work later; one the server refused (a used or expired token) will not. */
function joinFailure(host: string, r: ExecResult): ProviderError {
  const text = exitText(r);
  const network = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ENOTFOUND|socket hang up|timed out/i.test(r.stderr);
  return new ProviderError(network ? 'transient' : 'invalid', `host ${host}: the agent's join failed (${text})`);
}

function sameOrLowest(values: Array<number | null>): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : Math.min(...known);
}

function sameOrNull<T>(values: T[]): T | null {
  return values.every((v) => v === values[0]) ? (values[0] ?? null) : null;
}

import { FleetError, parseDurationMs, type PromoteRequest, type PromoteResult, type PromoteStep, type PromoteStepView } from '@gpufleet/protocol';
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../clock.js';
import type { SshHostDirectory } from '../jobcenter/job-center-contracts.js';
import type { ActionAudit } from '../services/audit-log.js';
import type { JoinTokenService } from '../services/join-tokens.js';
import type { NodeRegistry } from '../services/node-registry.js';
import type { SshTransport } from '../ssh/ssh-transport.js';
import type { Store } from '../store/store.js';
import type { CredentialVault } from './credential-vault.js';
import { PromoteRemote } from './promote-remote.js';
import { promoteTokenDescription } from './promote-token.js';

/** The server's settings for promotes (`--promote-agent-command`, `--promote-data-dir`, `--agent-install-command`). */
export interface PromoteSettings {
  /** The agent's command line on the hosts, split at spaces (`gpufleet-agent`, `node /opt/gpufleet/agent/dist/bin.js`). */
  agentCommand: string;
  dataDir: string;
  /** Run on a host without the agent when the request names no install command; null: such a promote is refused. */
  installCommand: string | null;
}

export interface PromoteServiceOptions {
  registry: Pick<NodeRegistry, 'get' | 'resolve' | 'update' | 'labelsOf'>;
  store: Pick<Store, 'listSshCredentials' | 'deleteSealedNodeKey'>;
  hosts: SshHostDirectory;
  vault: Pick<CredentialVault, 'open'>;
  transport: SshTransport;
  joinTokens: Pick<JoinTokenService, 'create' | 'revoke'>;
  /** True once the node's agent holds a session with a replica (its hello was accepted): see sessionUpAnywhere. */
  sessionUp: (nodeId: string) => boolean;
  clock: Clock;
  log: Pick<FastifyBaseLogger, 'info' | 'warn'>;
  settings: PromoteSettings;
  /** How often the session is looked for (default 200 ms). */
  pollMs?: number;
}

export const DEFAULT_PROMOTE_TIMEOUT = '5m';
/** The flag an operator sets for hosts that lack the agent, named in the refusal. */
export const INSTALL_FLAG_HELP =
  "give an install command (--install-command CMD), or set the server's default with --agent-install-command (GPUFLEET_AGENT_INSTALL_COMMAND)";
/** One probe, key write or start takes at most this long (the deadline of the whole promote still applies). */
const SHORT_STEP_MS = 60_000;
const MIN_TIMEOUT_MS = 10_000;
const MAX_TIMEOUT_MS = 3_600_000;

/** A failure of one step: the node stays an SSH node, the token is revoked. */
export class PromoteFailure extends FleetError {
  constructor(hostname: string, step: PromoteStep, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    const code = cause instanceof FleetError ? cause.code : 'unavailable';
    super(code, `promote of ${hostname} failed at step '${step}': ${why}; it stays an SSH node`, { details: { step }, cause });
  }
}

/**
 * `gpufleet nodes promote` (issue 12): turns a node managed over SSH into an agent host that
 * keeps its id (the did:key of the node key the server made at add), name, labels, groups,
 * variables and history. Steps: mint a single-use join token for that node; over SSH, check the
 * agent runs (else install it), write the node key into the agent's data dir, join with the
 * token, start the agent; wait for its session; then the node's mode becomes agent and the
 * server's sealed copy of the node key is deleted. The SSH record and login stay stored (the SSH
 * hosts directory serves ssh-mode nodes only, so plays do not use them today). Any failure names its step, revokes the token, stops an agent it
 * started (removing the key it wrote) and leaves the node an SSH node.
 */
export class PromoteService {
  private readonly running = new Set<string>();

  constructor(private readonly o: PromoteServiceOptions) {}

  async promote(ref: string, req: PromoteRequest, audit: ActionAudit): Promise<PromoteResult> {
    const startedAt = this.o.clock.now();
    const timeoutMs = promoteTimeoutMs(req.timeout);
    const deadline = startedAt + timeoutMs;
    const node = this.o.registry.resolve(ref);
    if (node.adminState === 'decommissioned') throw new FleetError('failed_precondition', `node ${node.hostname} was removed from the fleet`);
    if (node.mode !== 'ssh') throw new FleetError('failed_precondition', `node ${node.hostname} is already an agent host; nothing to promote`);
    const installCommand = req.installCommand ?? this.o.settings.installCommand;
    // Before any token: a node without a pinned key or a stored login is refused with B's reason.
    const access = await this.o.hosts.access(node.id);
    // A connection of its own in the pool: the periodic fact collection forgets the host's usual one, which would cut a join short.
    const endpoint = { ...access.endpoint, name: `${node.hostname} (promote)` };
    const nodeKey = (await this.o.store.listSshCredentials({ nodeId: node.id })).find((c) => c.purpose === 'node-key');
    if (!nodeKey) throw new FleetError('failed_precondition', `the server holds no node key for ${node.hostname}, so its id cannot move to an agent`);
    if (this.running.has(node.id)) throw new FleetError('conflict', `a promote of ${node.hostname} is already running`);
    this.running.add(node.id);
    const steps: PromoteStepView[] = [];
    let step: PromoteStep = 'token';
    let tokenId: string | null = null;
    let remote: PromoteRemote | null = null;
    let keyWritten = false;
    const left = (cap = Number.POSITIVE_INFINITY) => {
      const ms = Math.min(cap, deadline - this.o.clock.now());
      if (ms <= 0) throw new FleetError('unavailable', `the promote ran out of its ${formatMs(timeoutMs)}`);
      return ms;
    };
    const done = (detail: string, since: number) => steps.push({ step, detail, tookMs: this.o.clock.now() - since });
    try {
      let t = this.o.clock.now();
      const minted = await this.o.joinTokens.create(
        { description: promoteTokenDescription(node.id, node.hostname), labels: { ...node.userLabels }, expiresIn: `${Math.ceil(timeoutMs / 1000)}s` },
        audit.actor,
      );
      tokenId = minted.view.id;
      done(`single-use join token ${tokenId}, expires in ${formatMs(timeoutMs)}`, t);

      step = 'agent-check';
      t = this.o.clock.now();
      const probe = new PromoteRemote(this.o.transport, endpoint, this.agentSetup(endpoint.user, 'background'));
      const service = await probe.serviceKind(left(SHORT_STEP_MS));
      remote = new PromoteRemote(this.o.transport, endpoint, this.agentSetup(endpoint.user, service));
      let version = await remote.agentVersion(left(SHORT_STEP_MS));
      done(version === null ? `${this.o.settings.agentCommand} does not run on the host` : `${this.o.settings.agentCommand} ${version} found`, t);

      if (version === null) {
        step = 'install';
        t = this.o.clock.now();
        if (installCommand === null)
          throw new FleetError('failed_precondition', `${this.o.settings.agentCommand} is not installed on ${node.hostname}: ${INSTALL_FLAG_HELP}`);
        await remote.install(installCommand, left());
        version = await remote.agentVersion(left(SHORT_STEP_MS));
        if (version === null) throw new FleetError('failed_precondition', `the install command ran, but ${this.o.settings.agentCommand} --version still fails`);
        done(`installed ${version} with ${req.installCommand ? 'the given command' : "the server's --agent-install-command"}`, t);
      }

      step = 'node-key';
      t = this.o.clock.now();
      keyWritten = true;
      await remote.writeNodeKey(this.o.vault.open(nodeKey), left(SHORT_STEP_MS));
      done(`written to ${this.o.settings.dataDir}/node.key (0600)`, t);

      step = 'join';
      t = this.o.clock.now();
      await remote.join(minted.token, left());
      done(`joined as ${node.id}`, t);

      step = 'start';
      t = this.o.clock.now();
      await remote.start(left(SHORT_STEP_MS));
      done(service === 'systemd' ? 'systemd unit gpufleet-agent.service enabled and started' : 'started in the background', t);

      step = 'session';
      t = this.o.clock.now();
      await this.waitForSession(node.id, deadline, timeoutMs);
      done('the agent holds a session with the server', t);

      step = 'finish';
      t = this.o.clock.now();
      await this.o.registry.update(node.id, { mode: 'agent' }, 'status');
      await this.o.store.deleteSealedNodeKey(node.id);
      done("mode agent; the server's copy of the node key deleted", t);
    } catch (err) {
      const failure = new PromoteFailure(node.hostname, step, err);
      await this.undo(node.hostname, tokenId, keyWritten ? remote : null);
      this.running.delete(node.id);
      this.o.transport.forget(endpoint.name);
      await audit.note({
        action: 'ssh-hosts.promote',
        target: node.id,
        result: 'error',
        details: { hostname: node.hostname, step, error: failure.message, steps: steps.map((s) => s.step), reason: req.reason ?? null },
      });
      this.o.log.warn({ nodeId: node.id, hostname: node.hostname, step, err: failure.message }, 'promote failed');
      throw failure;
    }
    this.running.delete(node.id);
    this.o.transport.forget(endpoint.name);
    const tookMs = this.o.clock.now() - startedAt;
    await audit.note({
      action: 'ssh-hosts.promote',
      target: node.id,
      result: 'ok',
      details: { hostname: node.hostname, tokenId, tookMs, steps: steps.map((s) => s.step), reason: req.reason ?? null },
    });
    this.o.log.info({ nodeId: node.id, hostname: node.hostname, tookMs }, 'SSH node promoted to an agent host');
    return { nodeId: node.id, hostname: node.hostname, mode: 'agent', tookMs, steps };
  }

  private agentSetup(user: string, service: 'systemd' | 'background') {
    const agentCommand = this.o.settings.agentCommand.trim().split(/\s+/);
    return { agentCommand, dataDir: this.o.settings.dataDir, service, user };
  }

  private async waitForSession(nodeId: string, deadline: number, timeoutMs: number): Promise<void> {
    const pollMs = this.o.pollMs ?? 200;
    while (!this.o.sessionUp(nodeId)) {
      if (this.o.clock.now() >= deadline)
        throw new FleetError(
          'unavailable',
          `the agent did not connect to the server within ${formatMs(timeoutMs)} (is the server's URL reachable from the host?)`,
        );
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** Best effort: the token can no longer be used, and an agent we set up is stopped and its data dir (our key) removed. */
  private async undo(hostname: string, tokenId: string | null, remote: PromoteRemote | null): Promise<void> {
    if (tokenId !== null) {
      await this.o.joinTokens
        .revoke(tokenId)
        .catch((err: Error) => this.o.log.warn({ hostname, tokenId, err: err.message }, 'could not revoke the promote token'));
    }
    if (remote !== null) {
      await remote
        .stop(SHORT_STEP_MS)
        .catch((err: Error) => this.o.log.warn({ hostname, err: err.message }, 'could not stop the agent after a failed promote'));
    }
  }
}

/**
 * Whether a node's agent holds a session with the control plane: with this replica, or with
 * another live one (issue 13). The agent joins through the promoting replica's URL, then
 * connects to the replica its node id puts first among all of them, often another one; the
 * promote is done either way.
 */
export function sessionUpAnywhere(
  here: { hasSession(nodeId: string): boolean },
  owners: { liveHolderElsewhere(nodeId: string): string | null },
): (nodeId: string) => boolean {
  return (nodeId) => here.hasSession(nodeId) || owners.liveHolderElsewhere(nodeId) !== null;
}

/** The request's timeout (default 5m), from 10 s to 1 h. */
export function promoteTimeoutMs(text: string | undefined): number {
  const ms = parseDurationMs(text ?? DEFAULT_PROMOTE_TIMEOUT);
  if (ms < MIN_TIMEOUT_MS || ms > MAX_TIMEOUT_MS) throw new FleetError('invalid_argument', `timeout '${text}' must be from 10s to 1h`);
  return ms;
}

function formatMs(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`;
}

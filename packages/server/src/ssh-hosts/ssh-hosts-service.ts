import {
  FleetError,
  generateEd25519,
  type AddSshHostRequest,
  type AddSshHostResult,
  type MetricsBody,
  type ProbeSshHostRequest,
  type ProbeSshHostResult,
  type RotateCredentialsResult,
  type SshHostView,
  type TrustHostKeyRequest,
} from '@gpufleet/protocol';
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import type { SshHostAccess, SshHostDirectory } from '../jobcenter/job-center-contracts.js';
import type { NodeRegistry } from '../services/node-registry.js';
import type { ActionAudit } from '../services/audit-log.js';
import type { SshHostKey, SshTransport } from '../ssh/ssh-transport.js';
import type { NodeRecord, PinnedHostKeyRecord, SshCredentialRecord, SshHostRecord, Store } from '../store/store.js';
import { resealAll } from '../trust/sealed-records.js';
import type { CredentialVault } from './credential-vault.js';
import { collectRemoteFacts, describeFailure, endpointOf } from './host-contact.js';
import { probeHostKey, toLogin } from './host-probe.js';
import type { RemoteFacts } from './remote-facts.js';
import { sshHostView } from './ssh-host-views.js';

export interface SshHostsServiceOptions {
  store: Store;
  registry: NodeRegistry;
  transport: SshTransport;
  vault: CredentialVault;
  /** Where GPU and host samples go: the same pipeline agents feed (MetricsIngest). */
  metrics: { ingest(nodeId: string, body: MetricsBody): void };
  clock: Clock;
  log: Pick<FastifyBaseLogger, 'info' | 'warn'>;
  /** How often every SSH host's facts are collected again. */
  factsIntervalMs: number;
  /** Hosts contacted at once by the periodic collection (default 8). */
  concurrency?: number;
  /** Node removals (`nodes rm`) arrive here: the SSH record and credentials go with the node. */
  hub?: Pick<EventHub, 'subscribe'>;
}

/** How long `add` waits for the host to show its key. */
const PROBE_TIMEOUT_MS = 15_000;

/**
 * Nodes managed over SSH without an agent (issue 12): added with their login sealed in the vault
 * and their host key pinned, their facts collected over SSH with the agent's parsers (on add, on
 * demand and every factsIntervalMs), READY while contacts succeed and UNREACHABLE when one fails.
 * A changed host key is refused until an operator trusts exactly the key that was refused.
 */
export class SshHostsService implements SshHostDirectory {
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private forgetting: Promise<unknown> = Promise.resolve();
  private sweep: Promise<void> | null = null;
  /** Contacts in flight per node: a periodic pass and an on-demand one share. */
  private readonly inFlight = new Map<string, Promise<SshHostRecord>>();

  constructor(private readonly o: SshHostsServiceOptions) {}

  /** Puts the stored contact state of every SSH host into the registry (status after a restart). */
  async load(): Promise<void> {
    for (const host of await this.o.store.listSshHosts()) {
      this.o.registry.setContact(host.nodeId, host.unreachableSince === null && host.lastContactAt !== null, host.lastContactAt);
    }
  }

  start(): void {
    if (this.timer) return;
    this.unsubscribe =
      this.o.hub?.subscribe((e) => {
        if (e.type !== 'node' || e.change !== 'removed') return;
        this.forgetting = this.forgetting
          .then(() => this.forget(e.nodeId))
          .catch((err: Error) => this.o.log.warn({ nodeId: e.nodeId, err: err.message }, 'could not delete the SSH record of a removed node'));
      }) ?? null;
    this.timer = setInterval(() => {
      this.sweep ??= this.collectAll().finally(() => {
        this.sweep = null;
      });
    }, this.o.factsIntervalMs);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.sweep;
    await this.forgetting;
    await Promise.allSettled(this.inFlight.values());
  }

  async add(req: AddSshHostRequest, audit: ActionAudit): Promise<AddSshHostResult> {
    this.o.vault.requireKey('adding an SSH host');
    const taken = this.o.registry.all().find((n) => n.hostname === req.hostname && n.adminState !== 'decommissioned');
    if (taken) throw new FleetError('already_exists', `hostname '${req.hostname}' is taken by node ${taken.id}`);
    const now = this.o.clock.now();
    // The node's identity, made here: promoting it to an agent later hands this key over so the id stays.
    const identity = generateEd25519();
    const nodeId = identity.did;
    const credentials: SshCredentialRecord[] = [
      this.o.vault.sealLogin(nodeId, 'login', toLogin(req.login), now),
      ...(req.bastion ? [this.o.vault.sealLogin(nodeId, 'bastion', toLogin(req.bastion.login), now)] : []),
      this.o.vault.seal(nodeId, 'node-key', identity.privateKeyPem, now),
    ];
    const host: SshHostRecord = {
      nodeId,
      address: req.address,
      port: req.port,
      user: req.user,
      loginKind: req.login.kind,
      bastion: req.bastion ? { address: req.bastion.address, port: req.bastion.port, user: req.bastion.user } : null,
      hostKey: null,
      bastionHostKey: null,
      refusedHostKey: null,
      lastContactAt: null,
      lastError: null,
      factsAt: null,
      unreachableSince: null,
      createdAt: now,
    };
    let bastionKey: SshHostKey | null = null;
    const first = endpointOf(req.hostname, host, credentials, this.o.vault, {
      host: req.hostKey ? { kind: 'fingerprint', fingerprint: req.hostKey } : { kind: 'first-use', onFirstUse: async () => {} },
      bastion: {
        kind: 'first-use',
        onFirstUse: async (key) => {
          bastionKey = key;
        },
      },
    });
    let facts: RemoteFacts;
    try {
      const presented = await this.o.transport.probe(first, PROBE_TIMEOUT_MS);
      host.hostKey = pinned(presented, req.hostKey ? 'given' : 'first-use', this.o.clock.now());
      if (bastionKey !== null) host.bastionHostKey = pinned(bastionKey, 'first-use', this.o.clock.now());
      facts = await collectRemoteFacts(this.o.transport, endpointOf(req.hostname, host, credentials, this.o.vault), () => this.o.clock.now());
    } catch (err) {
      this.o.transport.forget(req.hostname);
      const failure = describeFailure(req.hostname, err, null);
      throw new FleetError(failure.code, `cannot add ${req.hostname}: ${failure.message}`);
    }
    const at = this.o.clock.now();
    host.lastContactAt = at;
    host.factsAt = at;
    const node: NodeRecord = {
      id: nodeId,
      hostname: req.hostname,
      adminState: 'active',
      tokenLabels: {},
      // Operator labels: selectors (`-l rack=a`) match them; built-in ones come from the facts.
      userLabels: req.labels ?? {},
      facts: { ...facts.host, hostname: req.hostname },
      gpus: facts.gpus,
      toolFailures: facts.toolFailures,
      agentVersion: facts.host.agentVersion,
      simulated: false,
      joinTokenId: null,
      enrolledAt: at,
      lastSeenAt: at,
      ackedSeq: 0,
      cordonReason: null,
      mode: 'ssh',
    };
    await this.o.store.insertSshHost(host, credentials);
    try {
      await this.o.registry.add(node);
    } catch (err) {
      await this.o.store.deleteSshHost(nodeId);
      throw err;
    }
    this.o.registry.setContact(nodeId, true, at);
    this.o.metrics.ingest(nodeId, facts.metrics);
    await audit.note({
      action: 'ssh-hosts.add',
      target: nodeId,
      result: 'ok',
      details: {
        hostname: req.hostname,
        address: req.address,
        port: req.port,
        user: req.user,
        bastion: host.bastion,
        hostKey: host.hostKey?.fingerprint,
        gpus: facts.gpus.length,
      },
    });
    this.o.log.info({ nodeId, hostname: req.hostname, hostKey: host.hostKey?.fingerprint }, 'SSH host added');
    return { host: sshHostView(host, node, this.o.vault.keyVersion), pinnedNow: true };
  }

  /** The key a host presents, before anything is stored (the dashboard shows it to confirm); no login is tried. */
  async probe(req: ProbeSshHostRequest): Promise<ProbeSshHostResult> {
    return probeHostKey(this.o.transport, req, PROBE_TIMEOUT_MS);
  }

  async list(): Promise<SshHostView[]> {
    const out: SshHostView[] = [];
    for (const host of await this.o.store.listSshHosts()) {
      const node = this.o.registry.get(host.nodeId);
      if (node && node.adminState !== 'decommissioned') out.push(await this.view(host, node));
    }
    return out.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
  }

  async get(ref: string): Promise<SshHostView> {
    const { host, node } = await this.resolve(ref);
    return this.view(host, node);
  }

  /** Accepts the key the host presented and that was refused (only that one), pins it and contacts the host again. */
  async trustHostKey(ref: string, req: TrustHostKeyRequest, audit: ActionAudit): Promise<SshHostView> {
    const { host, node } = await this.resolve(ref);
    const refused = host.refusedHostKey;
    if (refused === null) throw new FleetError('failed_precondition', `${node.hostname} presented no refused host key; nothing to trust`);
    if (refused.fingerprint !== req.fingerprint) {
      throw new FleetError(
        'failed_precondition',
        `${node.hostname} presented ${refused.fingerprint}, not ${req.fingerprint}: only the refused key can be trusted`,
      );
    }
    const previous = host.hostKey?.fingerprint ?? null;
    const key: PinnedHostKeyRecord = {
      algorithm: refused.algorithm,
      fingerprint: refused.fingerprint,
      publicKey: refused.publicKey,
      pinnedAt: this.o.clock.now(),
      source: 'operator',
    };
    // After any contact in flight: it used the old key and would write its refusal over the new pin.
    const contacted = this.after(host.nodeId, async () => {
      await this.o.store.updateSshHost(host.nodeId, { hostKey: key, refusedHostKey: null });
      this.o.transport.forget(node.hostname);
      // A promoted host's agent reports its facts; the pin only serves plays' SSH from now on.
      if (node.mode !== 'ssh') return { ...host, hostKey: key, refusedHostKey: null };
      return this.contactOnce(host.nodeId);
    });
    await audit.note({
      action: 'ssh-hosts.trust-host-key',
      target: host.nodeId,
      result: 'ok',
      details: { hostname: node.hostname, previous, fingerprint: key.fingerprint, reason: req.reason },
    });
    return this.view(await contacted, node);
  }

  /** Collects a host's facts now; a failure is recorded (UNREACHABLE, lastError) and shown in the view, not thrown. */
  async collectFacts(ref: string): Promise<SshHostView> {
    const { host, node } = await this.resolve(ref);
    if (node.mode !== 'ssh') throw new FleetError('failed_precondition', `${node.hostname} runs the agent, which reports its facts itself`);
    return this.view(await this.contact(host.nodeId), node);
  }

  /**
   * Re-seals every SSH credential under the current master key, and the control plane's own
   * sealed records (its key, the shared TLS CA, the online release keys) that only the previous
   * key still opens: after this the previous key can be dropped.
   */
  async rotateCredentials(audit: ActionAudit): Promise<RotateCredentialsResult> {
    const rotated = await this.o.vault.rotate(this.o.store, this.o.clock.now());
    const keyVersion = this.o.vault.keyVersion;
    const sealedRecords = await resealAll(this.o.store, this.o.vault.keys);
    await audit.note({ action: 'credentials.rotate', target: null, result: 'ok', details: { rotated, keyVersion, sealedRecords } });
    return { rotated, keyVersion, sealedRecords };
  }

  /** The node was removed from the fleet: its SSH record and credentials go with it. */
  async forget(nodeId: string): Promise<void> {
    const node = this.o.registry.get(nodeId);
    if (await this.o.store.deleteSshHost(nodeId)) {
      if (node) this.o.transport.forget(node.hostname);
      this.o.log.info({ nodeId }, 'SSH host removed with its credentials');
    }
  }

  // ---- SshHostDirectory (the play runner) ----

  /** SSH nodes and promoted agent hosts, which keep their SSH access so plays still reach them. */
  async sshNodeIds(): Promise<string[]> {
    return (await this.o.store.listSshHosts()).map((h) => h.nodeId).filter((id) => this.isLive(id));
  }

  async access(nodeId: string): Promise<SshHostAccess> {
    const node = this.o.registry.get(nodeId);
    const host = await this.o.store.getSshHost(nodeId);
    if (!node || !host) throw new FleetError('failed_precondition', `node ${node?.hostname ?? nodeId} is not reachable over SSH (no SSH record)`);
    if (host.hostKey === null) throw new FleetError('failed_precondition', `${node.hostname} has no pinned host key yet`);
    if (host.bastion !== null && host.bastionHostKey === null)
      throw new FleetError('failed_precondition', `the jump host of ${node.hostname} has no pinned host key yet`);
    const endpoint = endpointOf(node.hostname, host, await this.o.store.listSshCredentials({ nodeId }), this.o.vault);
    const strip = (k: PinnedHostKeyRecord): SshHostKey => ({ algorithm: k.algorithm, fingerprint: k.fingerprint, publicKey: k.publicKey });
    return { nodeId, hostname: node.hostname, endpoint, hostKey: strip(host.hostKey), bastionHostKey: host.bastionHostKey ? strip(host.bastionHostKey) : null };
  }

  // ---- contacts ----

  /** Every live SSH host, a few at a time. */
  async collectAll(): Promise<void> {
    // A promoted host's agent reports its own facts; only SSH-mode nodes are collected here.
    const ids = (await this.sshNodeIds()).filter((id) => this.o.registry.get(id)?.mode === 'ssh');
    const limit = Math.max(1, this.o.concurrency ?? 8);
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        await this.contact(id).catch((err: Error) => this.o.log.warn({ nodeId: id, err: err.message }, 'SSH fact collection failed'));
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, ids.length) }, worker));
  }

  /** A contact with the host: the one in flight, or a new one. */
  private contact(nodeId: string): Promise<SshHostRecord> {
    return this.inFlight.get(nodeId) ?? this.after(nodeId, () => this.contactOnce(nodeId));
  }

  /** Runs `work` once the node's contact in flight (if any) is over; contacts asked for meanwhile join it. */
  private after(nodeId: string, work: () => Promise<SshHostRecord>): Promise<SshHostRecord> {
    const previous = this.inFlight.get(nodeId)?.catch(() => undefined) ?? Promise.resolve();
    const run: Promise<SshHostRecord> = previous.then(work).finally(() => {
      if (this.inFlight.get(nodeId) === run) this.inFlight.delete(nodeId);
    });
    this.inFlight.set(nodeId, run);
    return run;
  }

  private async contactOnce(nodeId: string): Promise<SshHostRecord> {
    const node = this.o.registry.get(nodeId);
    const host = await this.o.store.getSshHost(nodeId);
    if (!node || !host) throw new FleetError('not_found', `no SSH host ${nodeId}`);
    try {
      const endpoint = endpointOf(node.hostname, host, await this.o.store.listSshCredentials({ nodeId }), this.o.vault);
      // Each contact connects afresh, so it checks again that the host answers, with the pinned key, and takes the login.
      this.o.transport.forget(node.hostname);
      const facts = await collectRemoteFacts(this.o.transport, endpoint, () => this.o.clock.now());
      const at = this.o.clock.now();
      const patch = { lastContactAt: at, factsAt: at, lastError: null, unreachableSince: null, refusedHostKey: null };
      await this.o.store.updateSshHost(nodeId, patch);
      await this.o.registry.applyInventory(nodeId, { host: { ...facts.host, hostname: node.hostname }, gpus: facts.gpus, toolFailures: facts.toolFailures });
      this.o.registry.setContact(nodeId, true, at);
      this.o.metrics.ingest(nodeId, facts.metrics);
      return { ...host, ...patch };
    } catch (err) {
      const at = this.o.clock.now();
      const failure = describeFailure(node.hostname, err, host.hostKey);
      this.o.transport.forget(node.hostname);
      const patch = {
        lastError: failure.message,
        unreachableSince: host.unreachableSince ?? at,
        ...(failure.refused ? { refusedHostKey: { ...failure.refused, seenAt: at } } : {}),
      };
      await this.o.store.updateSshHost(nodeId, patch);
      this.o.registry.setContact(nodeId, false, null);
      if (host.unreachableSince === null) this.o.log.warn({ nodeId, hostname: node.hostname, reason: failure.message }, 'SSH host unreachable');
      return { ...host, ...patch };
    }
  }

  private isLive(nodeId: string): boolean {
    const node = this.o.registry.get(nodeId);
    return node !== undefined && node.adminState !== 'decommissioned';
  }

  private async resolve(ref: string): Promise<{ host: SshHostRecord; node: NodeRecord }> {
    const node = this.o.registry.resolve(ref);
    const host = await this.o.store.getSshHost(node.id);
    if (!host) throw new FleetError('not_found', `node ${node.hostname} is not managed over SSH`);
    return { host, node };
  }

  private async view(host: SshHostRecord, node: NodeRecord): Promise<SshHostView> {
    const login = (await this.o.store.listSshCredentials({ nodeId: host.nodeId })).find((c) => c.purpose === 'login');
    return sshHostView(host, node, login?.keyVersion ?? 0);
  }
}

function pinned(key: SshHostKey, source: PinnedHostKeyRecord['source'], at: number): PinnedHostKeyRecord {
  return { algorithm: key.algorithm, fingerprint: key.fingerprint, publicKey: key.publicKey, pinnedAt: at, source };
}

import { FleetError, enrollmentMessage, verifyEd25519, type EnrollRequest } from '@gpufleet/protocol';
import type { NodeRecord } from '../store/store.js';
import type { Clock } from '../clock.js';
import type { NodeRegistry } from './node-registry.js';
import { BUILTIN_LABEL_KEYS } from './builtin-labels.js';
import type { JoinTokenService } from './join-tokens.js';
import type { AuditLog } from './audit-log.js';
import { checkRejoin } from '../ssh-hosts/promote-token.js';

/** Marks hosts made by `gpufleet sim` (hostname and OS id), so they are labelled simulated. */
export function isSimulatedHost(req: Pick<EnrollRequest, 'host'>): boolean {
  return req.host.os.id === 'gpufleet-sim';
}

/**
 * A host presenting a join token and its public key becomes a node (READY or PENDING). A
 * hostname is unique among live (not decommissioned) nodes: a new key claiming one that another
 * node holds is refused (already_exists) and the refusal audited, so a holder of a reusable
 * token cannot pose as an existing host, receive the commands meant for it and report for it.
 */
export class EnrollmentService {
  /** Hostnames of enrollments in progress: two new hosts racing for one name cannot both pass the check. */
  private readonly claiming = new Set<string>();

  constructor(
    private readonly registry: NodeRegistry,
    private readonly joinTokens: JoinTokenService,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly heartbeatMs: number,
  ) {}

  async enroll(req: EnrollRequest): Promise<{ nodeId: string; status: string; heartbeatMs: number }> {
    const token = await this.joinTokens.check(req.tokenId, req.secret);
    if (!verifyEd25519(req.nodeId, enrollmentMessage(req.tokenId, req.nodeId), req.signature)) {
      throw new FleetError('unauthenticated', 'enrollment signature does not verify against the presented node key');
    }
    const reserved = Object.keys(req.labels ?? {}).filter((k) => (BUILTIN_LABEL_KEYS as readonly string[]).includes(k));
    if (reserved.length > 0) throw new FleetError('invalid_argument', `label ${reserved.map((k) => `'${k}'`).join(', ')} is built in and set by the server`);
    const existing = this.registry.get(req.nodeId);
    if (existing?.adminState === 'decommissioned') {
      throw new FleetError('permission_denied', 'this node was removed from the fleet; its key is revoked (delete the agent data dir to join as a new node)');
    }
    if (existing) {
      // An SSH node's key comes in only through its promote, with that promote's single-use token.
      const promoting = checkRejoin(existing, token);
      if (promoting) await this.joinTokens.consume(token);
      // The same key joining again (e.g. re-running join): refresh its inventory, keep its state (a promoted node its name too).
      const host = promoting ? { ...req.host, hostname: existing.hostname } : req.host;
      await this.registry.applyInventory(existing.id, { host, gpus: req.gpus, toolFailures: existing.toolFailures });
      await this.audit.record({
        actor: `node:${req.nodeId}`,
        action: promoting ? 'node.promote-join' : 'node.rejoin',
        target: req.nodeId,
        result: 'ok',
        details: { tokenId: token.id },
      });
      return { nodeId: existing.id, status: this.registry.status(existing), heartbeatMs: this.heartbeatMs };
    }
    const hostname = req.host.hostname;
    const holder = this.hostnameHolder(hostname, req.nodeId);
    if (holder !== null) {
      await this.audit.record({
        actor: `node:${req.nodeId}`,
        action: 'node.enroll',
        target: req.nodeId,
        result: 'error',
        details: { tokenId: token.id, hostname, reason: 'hostname_taken', heldBy: holder },
      });
      throw new FleetError(
        'already_exists',
        `hostname '${hostname}' belongs to node ${holder === 'enrolling' ? 'that is enrolling right now' : holder} already: a second host cannot take it. If this host replaces that node (re-imaged, new key), remove the old one first (gpufleet nodes rm ${holder === 'enrolling' ? hostname : holder}); otherwise give this host its own hostname`,
        { details: { hostname, heldBy: holder } },
      );
    }
    this.claiming.add(hostname);
    try {
      return await this.enrollNew(req, token);
    } finally {
      this.claiming.delete(hostname);
    }
  }

  /** The id of the live node holding `hostname` ('enrolling' while a new one claims it), or null. */
  private hostnameHolder(hostname: string, self: string): string | null {
    if (this.claiming.has(hostname)) return 'enrolling';
    const holder = this.registry.all().find((n) => n.id !== self && n.hostname === hostname && n.adminState !== 'decommissioned');
    return holder?.id ?? null;
  }

  private async enrollNew(
    req: EnrollRequest,
    token: Awaited<ReturnType<JoinTokenService['check']>>,
  ): Promise<{ nodeId: string; status: string; heartbeatMs: number }> {
    await this.joinTokens.consume(token);
    const node: NodeRecord = {
      id: req.nodeId,
      hostname: req.host.hostname,
      adminState: token.needsApproval ? 'pending' : 'active',
      // What the host asked for, overridden by what the admin put in the token.
      tokenLabels: { ...(req.labels ?? {}), ...token.labels },
      userLabels: {},
      facts: req.host,
      gpus: req.gpus,
      toolFailures: [],
      agentVersion: req.host.agentVersion,
      simulated: isSimulatedHost(req),
      joinTokenId: token.id,
      enrolledAt: this.clock.now(),
      lastSeenAt: null,
      ackedSeq: 0,
      cordonReason: null,
      mode: 'agent',
    };
    await this.registry.add(node);
    await this.audit.record({
      actor: `node:${req.nodeId}`,
      action: 'node.enroll',
      target: req.nodeId,
      result: 'ok',
      details: { tokenId: token.id, hostname: node.hostname, gpus: node.gpus.length },
    });
    return { nodeId: node.id, status: token.needsApproval ? 'PENDING' : 'READY', heartbeatMs: this.heartbeatMs };
  }
}

import { MAX_FRAME_BYTES, type LabelAttestation, type Revocation, type RootsUpdate, type ServerFrame } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { RevocationRecord } from '../store/store.js';

/** The part of the agent gateway trust distribution needs. */
export interface TrustSender {
  sendToNode(nodeId: string, frame: ServerFrame): boolean;
  connectedNodeIds(): string[];
}

export type TrustFrame = Extract<ServerFrame, { t: 'trust' }>;

export interface TrustDistributionOptions {
  /** Signed root-set updates, oldest version first. */
  rootsUpdates: () => RootsUpdate[];
  /** Accepted revocations, oldest first. */
  revocations: () => RevocationRecord[];
  /** A node's latest signed label attestation, if any (each node gets only its own). */
  labelAttestation: (nodeId: string) => LabelAttestation | undefined;
  /** Expiry (epoch ms) of a registered capability, to leave out revocations that no longer matter. */
  capabilityExpiry?: (capabilityId: string) => number | undefined;
  clock: Clock;
  log: { warn(obj: object, msg: string): void };
  /** Frame size budget in bytes; default MAX_FRAME_BYTES less a margin (agents close on larger frames). */
  maxFrameBytes?: number;
}

/** What the frame schema allows (frames.ts TrustFrame). */
const MAX_ROOT_UPDATES = 16;
const MAX_REVOCATIONS = 10_000;
/** A revoked capability that expired this long ago cannot verify anywhere (skew is ±60 s). */
const EXPIRED_GRACE_MS = 5 * 60_000;

/**
 * Sends trust material to agents: every signed roots update (in version order) and every
 * revocation, on each new session and to every connected session when something changes. Agents
 * check each item's signature themselves, so the server only carries them.
 */
export class TrustDistribution {
  private gateway: TrustSender | null = null;
  // Warn once per change in how many revocations are left out, not once per session.
  private lastDropped = 0;

  constructor(private readonly o: TrustDistributionOptions) {}

  /** The gateway is built after the services; trust frames flow once it is attached. */
  attachGateway(gateway: TrustSender): void {
    this.gateway = gateway;
  }

  /** The trust frame for a node: the fleet-wide material and the node's own label attestation. */
  trustFrameFor(nodeId: string): TrustFrame {
    return this.withLabels(this.fleetFrame(), nodeId);
  }

  private withLabels(frame: TrustFrame, nodeId: string): TrustFrame {
    const labels = this.o.labelAttestation(nodeId);
    return labels === undefined ? frame : { t: 'trust', body: { ...frame.body, labels } };
  }

  /**
   * The fleet-wide part of every trust frame. Within the frame schema's limits
   * and the frame size agents accept: the newest 16 updates, and revocations newest first until
   * the budget is spent; revocations of capabilities that expired long ago are left out, since
   * an expired capability is refused anyway.
   */
  private fleetFrame(): TrustFrame {
    const roots = this.o.rootsUpdates().slice(-MAX_ROOT_UPDATES);
    const now = this.o.clock.now();
    const budget = (this.o.maxFrameBytes ?? MAX_FRAME_BYTES - 16 * 1024) - Buffer.byteLength(JSON.stringify({ t: 'trust', body: { roots, revocations: [] } }));
    const all = this.o.revocations();
    const kept: Revocation[] = [];
    let bytes = 0;
    let dropped = 0;
    for (let i = all.length - 1; i >= 0; i--) {
      const r = all[i]!;
      if (r.targetKind === 'capability') {
        const exp = this.o.capabilityExpiry?.(r.target);
        if (exp !== undefined && exp + EXPIRED_GRACE_MS < now) continue;
      }
      const size = Buffer.byteLength(JSON.stringify(r.revocation)) + 1;
      if (kept.length >= MAX_REVOCATIONS || bytes + size > budget) {
        dropped++;
        continue;
      }
      kept.push(r.revocation);
      bytes += size;
    }
    if (dropped > 0 && dropped !== this.lastDropped)
      this.o.log.warn({ dropped, sent: kept.length }, 'trust frame is full: the oldest revocations were left out');
    this.lastDropped = dropped;
    return { t: 'trust', body: { roots, revocations: kept.reverse() } };
  }

  /** Gateway hook: a session is ready, send it the trust material. */
  onSessionReady(nodeId: string): void {
    this.gateway?.sendToNode(nodeId, this.trustFrameFor(nodeId));
  }

  /** Sends the current trust material to every connected node; returns how many got it. */
  broadcast(): number {
    const gateway = this.gateway;
    if (!gateway) return 0;
    let sent = 0;
    const frame = this.fleetFrame();
    for (const id of gateway.connectedNodeIds()) if (gateway.sendToNode(id, this.withLabels(frame, id))) sent++;
    return sent;
  }

  /** Sends one node its trust frame (after its label attestation changed); false when it is not connected. */
  sendTo(nodeId: string): boolean {
    return this.gateway?.sendToNode(nodeId, this.trustFrameFor(nodeId)) ?? false;
  }
}

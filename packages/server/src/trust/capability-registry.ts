import { createHash } from 'node:crypto';
import {
  Capability,
  FleetError,
  Revocation,
  canonicalJson,
  capabilityChain,
  capabilityDepthExceeds,
  capabilityId,
  verifyCapability,
  verifyRevocation,
  type Ability,
  type CapabilityView,
  type Labels,
  type Verdict,
} from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { ActionAudit } from '../services/audit-log.js';
import type { CapabilityRecord, RevocationRecord, Store } from '../store/store.js';
import { labelsSatisfying } from './selector-witness.js';
import { firstIssue, verdictError } from './verdict-error.js';

// The server knows every label of its nodes (and the witness labels are complete by construction):
// a key absent here is absent. Hosts, which know less, vouch more narrowly.
const SERVER_VOUCHES = (): boolean => true;

export type { CapabilityView } from '@gpufleet/protocol';

export interface RevocationView {
  id: string;
  target: Revocation['target'];
  iss: string;
  at: string;
  reason: string;
  addedAt: string;
  addedBy: string;
  revocation: Revocation;
}

/** How a signer's authority for an ability was established (for audit details). */
export type Authority = { kind: 'root' } | { kind: 'capability'; capabilityId: string; chain: string[] };

export interface CapabilityRegistryOptions {
  store: Store;
  clock: Clock;
  /** The current fleet roots. */
  roots: () => readonly string[];
  /** Called after a new revocation is stored (to push trust frames to connected agents). */
  onRevocation?: () => void;
}

/** The chain ids of a capability, root-issued link first. */
export function chainIds(cap: Capability): string[] {
  return capabilityChain(cap).map(capabilityId);
}

/** Id of a revocation: sha256 hex of its canonical JSON. */
export function revocationId(rev: Revocation): string {
  return createHash('sha256').update(canonicalJson(rev)).digest('hex');
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Capabilities and revocations operators registered. Agents never trust this copy: they verify
 * the capability that travels inside each signed command. The server checks what it stores the
 * same way, so the listing only ever shows capabilities that would verify, and it uses the
 * registry to find the capabilities delegated to its own key or to a script's signer.
 */
export class CapabilityRegistry {
  private revocations: RevocationRecord[] = [];
  private revokedCaps = new Set<string>();
  private revokedDids = new Set<string>();
  private expiries = new Map<string, number>();

  constructor(private readonly o: CapabilityRegistryOptions) {}

  async load(): Promise<void> {
    this.revocations = await this.o.store.listRevocations();
    this.revokedCaps = new Set(this.revocations.filter((r) => r.targetKind === 'capability').map((r) => r.target));
    this.revokedDids = new Set(this.revocations.filter((r) => r.targetKind === 'did').map((r) => r.target));
  }

  /** Loads revocations and the expiry of every registered capability. */
  async loadAll(): Promise<void> {
    await this.load();
    this.expiries = new Map((await this.o.store.listCapabilities()).map((r) => [r.id, r.exp]));
  }

  /** Expiry of a registered capability (epoch ms), for leaving out revocations that no longer matter. */
  expiryOf(capabilityId: string): number | undefined {
    return this.expiries.get(capabilityId);
  }

  /** The shape verifyCapability's `isRevoked` wants, over every accepted revocation. */
  readonly isRevoked = (capId: string, did: string): boolean => (capId !== '' && this.revokedCaps.has(capId)) || this.revokedDids.has(did);

  /** Every accepted revocation, oldest first. */
  revocationRecords(): RevocationRecord[] {
    return [...this.revocations];
  }

  /**
   * Checks a capability as an agent would, for its own audience and first ability, with a label
   * set its selector matches and, for one not yet valid, at its start time (so capabilities
   * granted ahead of time can be registered).
   */
  check(cap: Capability): Verdict {
    const chain = capabilityChain(cap);
    const labels = labelsSatisfying(cap.on);
    if (labels === null) return { ok: false, reason: 'selector_mismatch', message: `the selector '${cap.on}' can match no host` };
    const startsAt = Math.max(...chain.map((l) => l.nbf));
    return verifyCapability(cap, {
      roots: this.o.roots(),
      now: Math.max(this.o.clock.now(), startsAt),
      isRevoked: this.isRevoked,
      hostLabels: labels,
      vouches: SERVER_VOUCHES,
      ability: cap.can[0]!,
      invoker: cap.aud,
    });
  }

  /** Registers a capability after checking its schema, signatures and chain; `created` is false for a repeat. */
  async add(value: unknown, audit: ActionAudit): Promise<{ view: CapabilityView; created: boolean }> {
    const actor = audit.actor;
    if (capabilityDepthExceeds(value)) throw new FleetError('invalid_argument', 'capability chain is too deep');
    const parsed = Capability.safeParse(value);
    if (!parsed.success) throw new FleetError('invalid_argument', `not a valid capability: ${firstIssue(parsed.error)}`);
    const cap = parsed.data;
    const id = capabilityId(cap);
    const chain = chainIds(cap);
    const verdict = this.check(cap);
    if (!verdict.ok) {
      await audit.note({
        action: 'capability.register',
        target: id,
        result: 'error',
        details: { signer: cap.iss, audience: cap.aud, chain, reason: verdict.reason },
      });
      throw verdictError('capability', verdict);
    }
    const record: CapabilityRecord = {
      id,
      iss: cap.iss,
      aud: cap.aud,
      can: cap.can,
      on: cap.on,
      nbf: cap.nbf,
      exp: cap.exp,
      token: cap,
      addedAt: this.o.clock.now(),
      addedBy: actor,
    };
    const created = await this.o.store.insertCapability(record);
    this.expiries.set(id, cap.exp);
    // A repeat changes nothing; its record says so.
    await audit.note({
      action: 'capability.register',
      target: id,
      result: 'ok',
      details: { signer: cap.iss, audience: cap.aud, can: cap.can, on: cap.on, exp: iso(cap.exp), chain, created },
    });
    return { view: this.view(created ? record : ((await this.o.store.getCapability(id)) ?? record)), created };
  }

  async list(query: { aud?: string } = {}): Promise<CapabilityView[]> {
    return (await this.o.store.listCapabilities(query)).map((r) => this.view(r));
  }

  /**
   * Accepts a revocation signed by a fleet root, by a key revoking itself (verifyRevocation, as
   * agents check it), or, for a registered capability, by that capability's issuer.
   */
  async revoke(value: unknown, audit: ActionAudit): Promise<{ view: RevocationView; created: boolean }> {
    const actor = audit.actor;
    const parsed = Revocation.safeParse(value);
    if (!parsed.success) throw new FleetError('invalid_argument', `not a valid revocation: ${firstIssue(parsed.error)}`);
    const rev = parsed.data;
    const roots = this.o.roots();
    // Why it is accepted: a root, a key revoking itself, or the capability's issuer (kept in the audit record).
    let authority: 'root' | 'self' | 'issuer';
    let chain: string[] | undefined;
    const verdict = verifyRevocation(rev, roots);
    const target = 'capability' in rev.target ? await this.o.store.getCapability(rev.target.capability) : undefined;
    if (target) chain = chainIds(target.token);
    if (verdict.ok) {
      authority = roots.includes(rev.iss) ? 'root' : 'self';
    } else if (verdict.reason === 'unknown_issuer' && target !== undefined && target.iss === rev.iss) {
      // The signature was checked before the issuer (verifyRevocation's order): only authority failed.
      authority = 'issuer';
    } else {
      await audit.note({
        action: 'revocation.add',
        target: targetText(rev),
        result: 'error',
        details: { signer: rev.iss, reason: verdict.reason, ...(chain ? { chain } : {}) },
      });
      if (verdict.reason === 'unknown_issuer' && 'capability' in rev.target && target === undefined) {
        throw new FleetError(
          'permission_denied',
          `revocation refused (unknown_issuer): ${rev.iss} is not a fleet root, and capability ${rev.target.capability.slice(0, 12)}… is not registered here, so its issuer cannot be checked`,
          { details: { reason: 'unknown_issuer' } },
        );
      }
      throw verdictError('revocation', verdict);
    }
    const record: RevocationRecord = {
      id: revocationId(rev),
      targetKind: 'capability' in rev.target ? 'capability' : 'did',
      target: targetText(rev),
      iss: rev.iss,
      at: rev.at,
      revocation: rev,
      addedAt: this.o.clock.now(),
      addedBy: actor,
    };
    const created = await this.o.store.insertRevocation(record);
    await this.load();
    await audit.note({
      action: 'revocation.add',
      target: record.target,
      result: 'ok',
      details: { signer: rev.iss, authority, kind: record.targetKind, reason: rev.reason, ...(chain ? { chain } : {}), created },
    });
    if (created) this.o.onRevocation?.();
    const stored = this.revocations.find((r) => r.id === record.id) ?? record;
    return { view: this.revocationView(stored), created };
  }

  /** Accepted revocations as stored now (another replica may have added some). */
  async revocationViews(): Promise<RevocationView[]> {
    await this.load();
    return this.revocations.map((r) => this.revocationView(r));
  }

  /**
   * How `did` may exercise `ability` without a particular host: as a fleet root, or through a
   * registered capability delegated to it that verifies now (the longest-lived one wins).
   */
  async authorityOf(did: string, ability: Ability): Promise<Authority | null> {
    if (this.o.roots().includes(did)) return { kind: 'root' };
    const found = await this.capabilityFor(did, ability, null);
    return found ? { kind: 'capability', capabilityId: capabilityId(found), chain: chainIds(found) } : null;
  }

  /**
   * A registered capability delegated to `aud` that verifies for `ability` now, on a host with
   * `hostLabels` (null: on some host its selector matches). The longest-lived one wins.
   */
  async capabilityFor(aud: string, ability: Ability, hostLabels: Labels | null): Promise<Capability | null> {
    const now = this.o.clock.now();
    const candidates = (await this.o.store.listCapabilities({ aud })).filter((r) => r.exp >= now).sort((a, b) => b.exp - a.exp);
    for (const r of candidates) {
      const labels = hostLabels ?? labelsSatisfying(r.on);
      if (labels === null) continue;
      const verdict = verifyCapability(r.token, {
        roots: this.o.roots(),
        now,
        isRevoked: this.isRevoked,
        hostLabels: labels,
        vouches: SERVER_VOUCHES,
        ability,
        invoker: aud,
      });
      if (verdict.ok) return r.token;
    }
    return null;
  }

  private view(r: CapabilityRecord): CapabilityView {
    const chain = capabilityChain(r.token);
    const revoked = chain.some((link) => {
      const id = capabilityId(link);
      return this.isRevoked(id, link.iss) || this.isRevoked(id, link.aud);
    });
    const now = this.o.clock.now();
    const state = revoked ? 'revoked' : r.exp < now ? 'expired' : r.nbf > now ? 'pending' : 'active';
    return {
      id: r.id,
      iss: r.iss,
      aud: r.aud,
      can: r.can,
      on: r.on,
      nbf: iso(r.nbf),
      exp: iso(r.exp),
      revoked,
      state,
      chain: chain.map(capabilityId),
      addedAt: iso(r.addedAt),
      addedBy: r.addedBy,
      capability: r.token,
    };
  }

  private revocationView(r: RevocationRecord): RevocationView {
    return {
      id: r.id,
      target: r.revocation.target,
      iss: r.iss,
      at: iso(r.at),
      reason: r.revocation.reason,
      addedAt: iso(r.addedAt),
      addedBy: r.addedBy,
      revocation: r.revocation,
    };
  }
}

function targetText(rev: Revocation): string {
  return 'capability' in rev.target ? rev.target.capability : rev.target.did;
}

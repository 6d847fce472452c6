import { BUILTIN_LABEL_KEYS, capabilityChain, capabilityId, LabelAttestation, verifyLabelAttestation, type Labels, type VouchesFor } from '@gpufleet/protocol';

/** The labels a host matches selectors against, and which keys it can vouch for. */
export interface HostLabelView {
  labels: Labels;
  vouches: VouchesFor;
}

/** What a host knows when it judges a label attestation. */
export interface AttestationCheck {
  roots: readonly string[];
  now: number;
  skewMs: number;
  isRevoked: (capId: string, did: string) => boolean;
  /** The labels the host vouches for itself: built-in ones from its own facts, and its join labels. */
  base: Labels;
}

/** What a held attestation still needs: its signer anchored at a current root and nothing in its chain revoked. */
export interface AttestationStanding {
  roots: readonly string[];
  isRevoked: (capId: string, did: string) => boolean;
}

/** The result of offering an attestation: taken, already held, or refused with the reason. */
export type AttestationOffer = { taken: true } | { taken: false; why: string | null };

const BUILTIN = new Set<string>(BUILTIN_LABEL_KEYS);

function stands(a: LabelAttestation, s: AttestationStanding): boolean {
  if (a.cap === null) return s.roots.includes(a.iss) && !s.isRevoked('', a.iss);
  const chain = capabilityChain(a.cap);
  if (!s.roots.includes(chain[0]!.iss)) return false;
  return chain.every((link) => {
    const id = capabilityId(link);
    return !s.isRevoked(id, link.iss) && !s.isRevoked(id, link.aud);
  });
}

/**
 * The host's latest verified label attestation (see protocol label-attestation.ts) and the label
 * view it gives. A host vouches for:
 *  - its built-in labels, computed from its own facts (present or absent), once it has facts;
 *  - its join labels (its own `--label`s and the labels in the join token it was given);
 *  - with an attestation: the operator labels it names, and the absence of every other
 *    non-built-in label, since an attestation is the node's complete operator label set.
 * Without an attestation, any other key is unknown, and selectors naming it are refused.
 */
export class AttestedLabels {
  private held: LabelAttestation | null = null;

  /** `nodeId`: this host's did:key (null: not joined; every attestation is refused). */
  constructor(private readonly nodeId: string | null) {}

  /** The version held (0: none). */
  get version(): number {
    return this.held?.version ?? 0;
  }

  get attestation(): LabelAttestation | null {
    return this.held;
  }

  /** An attestation read back from the host's trust log: it was verified when it arrived. */
  restore(value: unknown): void {
    const parsed = LabelAttestation.safeParse(value);
    if (parsed.success && parsed.data.node === this.nodeId && parsed.data.version > this.version) this.held = parsed.data;
  }

  /** Verifies an attestation the server forwarded; takes it when it is valid and newer than the one held. */
  offer(value: unknown, check: AttestationCheck): AttestationOffer {
    const sig = (value as { sig?: unknown } | null)?.sig;
    // The server resends the latest attestation on each session: the one held costs nothing.
    if (this.held !== null && sig === this.held.sig) return { taken: false, why: null };
    if (this.nodeId === null) return { taken: false, why: 'label attestation: this host has not joined a fleet, so it has no node id to check it against' };
    const view = this.view(check.base, check);
    const verdict = verifyLabelAttestation(value, {
      node: this.nodeId,
      roots: check.roots,
      now: check.now,
      skewMs: check.skewMs,
      isRevoked: check.isRevoked,
      hostLabels: view.labels,
      vouches: view.vouches,
      currentVersion: this.version,
    });
    if (!verdict.ok) return { taken: false, why: verdict.message };
    this.held = LabelAttestation.parse(value);
    return { taken: true };
  }

  /**
   * The labels selectors are matched against, over `base` (built-in and join labels). An
   * attestation whose signer has since lost its standing (its root removed from the root set,
   * its key or a capability in its chain revoked) counts as none: its labels are unvouched again
   * until someone with standing signs them.
   */
  view(base: Labels, standing: AttestationStanding): HostLabelView {
    const held = this.held !== null && stands(this.held, standing) ? this.held : null;
    // Attested labels never carry built-in keys (the schema refuses them), so the built-ins in `base` keep precedence.
    const labels: Labels = held ? { ...base, ...held.labels } : { ...base };
    // Built-in labels always include hostname once the host has read its facts.
    const factsKnown = Object.hasOwn(base, 'hostname');
    const vouches: VouchesFor = (key) => {
      if (Object.hasOwn(labels, key)) return true;
      if (BUILTIN.has(key)) return factsKnown;
      return held !== null;
    };
    return { labels, vouches };
  }
}

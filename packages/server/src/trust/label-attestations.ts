import { FleetError, LabelAttestation, capabilityId, verifyLabelAttestation } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { ActionAudit } from '../services/audit-log.js';
import type { Store } from '../store/store.js';
import { firstIssue, verdictError } from './verdict-error.js';

/** The part of the node registry label attestations need. */
export interface LabelNodes {
  /** The node's labels as the server lists them (token, user, built-in); undefined: no such node. */
  labelsOf(nodeId: string): Readonly<Record<string, string>> | undefined;
  /** The node's operator labels; undefined: no such node. */
  userLabelsOf(nodeId: string): Readonly<Record<string, string>> | undefined;
  /** Sets and removes operator labels (the registry's setUserLabels). */
  setUserLabels(nodeId: string, set: Record<string, string>, remove: string[]): Promise<unknown>;
}

export interface LabelAttestationsOptions {
  store: Store;
  clock: Clock;
  /** The current fleet roots (FleetRoots.current: throws while the stored root chain is broken). */
  roots: () => string[];
  /** Accepted revocations, in verifyCapability's shape. */
  isRevoked: (capId: string, did: string) => boolean;
  /** Called after a node's attestation changed (to push that node a trust frame). */
  onChange: (nodeId: string) => void;
}

/**
 * Each node's latest signed label attestation. An operator's CLI signs the node's complete
 * operator label set; the server checks it as the host will (signature, a root or a node/labels
 * capability chaining to one, newer version), stores it, makes the node's operator labels exactly
 * the attested ones, and pushes it to the host in trust frames. Unsigned label changes that would
 * make the server list a label other than the one the host vouches for are refused
 * (checkUnsignedChange): any change once the node has an attestation, and overriding a label of
 * its join token (the host vouches for the token's value).
 */
export class LabelAttestations {
  private readonly latest = new Map<string, LabelAttestation>();

  constructor(private readonly o: LabelAttestationsOptions) {}

  /** Reads every node's latest attestation from the store. */
  async load(): Promise<void> {
    const records = await this.o.store.listLabelAttestations();
    this.latest.clear();
    for (const r of records) this.latest.set(r.nodeId, r.attestation);
  }

  /** The node's latest attestation, if any (synchronous: trust frames carry it). */
  current(nodeId: string): LabelAttestation | undefined {
    return this.latest.get(nodeId);
  }

  /** Changes whenever any node's attestation does (versions only grow): replicas compare it to know when to push. */
  stamp(): string {
    let sum = 0;
    for (const a of this.latest.values()) sum += a.version;
    return `${this.latest.size}:${sum}`;
  }

  /**
   * Refuses an unsigned label change (failed_precondition) that would let the server's listing
   * drift from what the host vouches for: any change on a node whose labels are attested, and
   * setting a join-token label to another value (the host keeps vouching for the token's).
   */
  checkUnsignedChange(node: { id: string; hostname: string; tokenLabels: Readonly<Record<string, string>> }, set: Readonly<Record<string, string>>): void {
    const held = this.latest.get(node.id);
    if (held !== undefined) {
      throw new FleetError(
        'failed_precondition',
        `node ${node.hostname}'s labels are attested (version ${held.version}): hosts vouch only for signed labels, so sign the change: gpufleet nodes label ${node.hostname} ... --key NAME`,
        { details: { attestedVersion: held.version } },
      );
    }
    const overridden = Object.keys(set).filter((k) => Object.hasOwn(node.tokenLabels, k) && node.tokenLabels[k] !== set[k]);
    if (overridden.length > 0) {
      throw new FleetError(
        'failed_precondition',
        `label ${overridden.map((k) => `'${k}'`).join(', ')} of node ${node.hostname} comes from its join token, which the host vouches for: change it with a signed label attestation: gpufleet nodes label ${node.hostname} ... --key NAME`,
      );
    }
  }

  /**
   * Checks and adopts an attestation: well-formed (invalid_argument), for a known node
   * (not_found), verified as the host will verify it (permission_denied / invalid_argument),
   * exactly the next version (conflict otherwise, so two operators racing cannot both win).
   * Then the node's operator labels become exactly the attested ones. The outcome of a
   * well-formed attestation, taken or refused, is described to `audit` as `label.attest`.
   */
  async submit(value: unknown, audit: ActionAudit, nodes: LabelNodes): Promise<LabelAttestation> {
    const parsed = LabelAttestation.safeParse(value);
    if (!parsed.success) throw new FleetError('invalid_argument', `not a valid label attestation: ${firstIssue(parsed.error)}`);
    const a = parsed.data;
    const about = { signer: a.iss, version: a.version, capability: a.cap === null ? null : capabilityId(a.cap) };
    try {
      await this.adopt(a, audit.actor, nodes);
    } catch (err) {
      const reason = FleetError.is(err) ? ((err.details as { reason?: unknown } | undefined)?.reason ?? err.code) : 'internal';
      await audit.note({ action: 'label.attest', target: a.node, result: 'error', details: { ...about, reason } });
      throw err;
    }
    await audit.note({ action: 'label.attest', target: a.node, result: 'ok', details: { ...about, labels: a.labels } });
    return a;
  }

  private async adopt(a: LabelAttestation, actor: string, nodes: LabelNodes): Promise<void> {
    const labels = nodes.labelsOf(a.node);
    const userLabels = nodes.userLabelsOf(a.node);
    if (labels === undefined || userLabels === undefined) throw new FleetError('not_found', `no node ${a.node}`);
    const stored = await this.o.store.getLabelAttestation(a.node);
    const held = stored?.version ?? 0;
    if (a.version !== held + 1) {
      throw new FleetError(
        'conflict',
        `label attestation carries version ${a.version}, but the next version for this node is ${held + 1}: fetch the node's labels again and sign anew`,
        { details: { expected: held + 1 } },
      );
    }
    const verdict = verifyLabelAttestation(a, {
      node: a.node,
      roots: this.o.roots(),
      now: this.o.clock.now(),
      isRevoked: this.o.isRevoked,
      hostLabels: labels,
      // The server knows every label of its nodes: a key absent here is absent.
      vouches: () => true,
      currentVersion: held,
    });
    if (!verdict.ok) throw verdictError('label attestation', verdict);
    const at = this.o.clock.now();
    if (!(await this.o.store.putLabelAttestation({ nodeId: a.node, version: a.version, attestation: a, actor, at }))) {
      throw new FleetError('conflict', `label attestation version ${a.version} was just taken by another change: fetch the node's labels again`);
    }
    this.latest.set(a.node, a);
    const remove = Object.keys(userLabels).filter((k) => !Object.hasOwn(a.labels, k));
    await nodes.setUserLabels(a.node, { ...a.labels }, remove);
    this.o.onChange(a.node);
  }
}

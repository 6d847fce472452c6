import { FamilyWriter, labelBlock } from '../metrics/exposition.js';
import { LEASE_ROLES, type LeaseRoleName } from './leases.js';
import type { ReplicaView } from '@gpufleet/protocol';

export interface ReplicaStatusDeps {
  directory: { name: string; list(): ReplicaView[] };
  owners: { heldElsewhere(nodeId: string): boolean; holderOf(nodeId: string): string | null };
  leases: { held(): LeaseRoleName[] };
  relay: { relayed: number; dropped: number };
  /** Latest samples sent to the other replicas, and those refused from them (ReplicaBridge). */
  samples: { relayed: { samples: number; batches: number; oversized: number }; refusedSamples: { batches: number; samples: number } };
  /** Whether this replica holds the node's agent session now. */
  heldHere: (nodeId: string) => boolean;
}

/**
 * What one replica says about the replica set: `GET /api/v1/replicas`, which nodes its
 * /metrics exports, and the `gpufleet_replica_*` series.
 */
export class ReplicaStatus {
  constructor(private readonly d: ReplicaStatusDeps) {}

  get name(): string {
    return this.d.directory.name;
  }

  list(): ReplicaView[] {
    return this.d.directory.list();
  }

  /**
   * Whether this replica's /metrics carries the node: each node is exported by exactly one
   * replica, so sums over all scraped replicas count it once. A node held here is; one held by
   * another live replica is not; one held by nobody (offline) is exported by the first live
   * replica by name.
   */
  exportsNode(nodeId: string): boolean {
    if (this.d.heldHere(nodeId)) return true;
    if (this.d.owners.heldElsewhere(nodeId)) return false;
    const first = this.d.directory
      .list()
      .map((r) => r.name)
      .sort()[0];
    return first === undefined || first === this.d.directory.name;
  }

  /** Whether the alert series are this replica's to export (it holds the `alerts` lease). */
  exportsAlerts(): boolean {
    return this.d.leases.held().includes('alerts');
  }

  /** The gpufleet_replica_* families. */
  series(): string {
    const me = this.d.directory.list().find((r) => r.self);
    const info = new FamilyWriter('gpufleet_replica_info', 'gauge', 'This control-plane replica (value 1), with its name, instance and version.');
    if (me)
      info.sample(
        labelBlock([
          ['replica', me.name],
          ['instance_id', me.instance],
          ['version', me.version],
        ]),
        1,
      );
    const peers = new FamilyWriter('gpufleet_replica_peers', 'gauge', 'Live control-plane replicas this one sees, itself included.');
    peers.sample('', this.d.directory.list().length);
    const held = this.d.leases.held();
    const leases = new FamilyWriter('gpufleet_replica_lease_held', 'gauge', 'Whether this replica holds the lease of a singleton role (1) or not (0).');
    for (const role of LEASE_ROLES) leases.sample(labelBlock([['role', role]]), held.includes(role) ? 1 : 0);
    const relayed = new FamilyWriter('gpufleet_replica_frames_relayed_total', 'counter', 'Frames another replica sent through this one to an agent it holds.');
    relayed.sample('', this.d.relay.relayed);
    const dropped = new FamilyWriter(
      'gpufleet_replica_frames_dropped_total',
      'counter',
      'Relayed frames for an agent no longer held here (it moved; the sender resends when it is ready).',
    );
    dropped.sample('', this.d.relay.dropped);
    const { relayed: sent, refusedSamples: refused } = this.d.samples;
    const samples = new FamilyWriter('gpufleet_replica_samples_sent_total', 'counter', 'Latest samples of nodes held here sent to the other replicas.');
    samples.sample('', sent.samples);
    const batches = new FamilyWriter('gpufleet_replica_sample_batches_sent_total', 'counter', 'Bus messages those samples went out in (many samples each).');
    batches.sample('', sent.batches);
    const refusedSamples = new FamilyWriter(
      'gpufleet_replica_samples_refused_total',
      'counter',
      'Samples not sent or not taken: too large for a bus message (reason="oversized"), a malformed batch or body from another replica (reason="malformed_batch", "malformed_sample").',
    );
    refusedSamples.sample(labelBlock([['reason', 'oversized']]), sent.oversized);
    refusedSamples.sample(labelBlock([['reason', 'malformed_batch']]), refused.batches);
    refusedSamples.sample(labelBlock([['reason', 'malformed_sample']]), refused.samples);
    return [info, peers, leases, relayed, dropped, samples, batches, refusedSamples].map((f) => f.flush()).join('');
  }
}

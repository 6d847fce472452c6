import type { Ability, Capability, Labels } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import type { Store } from '../store/store.js';
import { CapabilityRegistry } from './capability-registry.js';
import { FleetRoots } from './fleet-roots.js';
import { LabelAttestations } from './label-attestations.js';
import type { MasterKeys } from './master-keys.js';
import { ServerIdentity, type ServerSigner } from './server-identity.js';
import { TrustDistribution, type TrustSender } from './trust-distribution.js';

export { CapabilityRegistry, chainIds, revocationId, type Authority, type CapabilityView, type RevocationView } from './capability-registry.js';
export { FleetRoots, type RootsView } from './fleet-roots.js';
export { LabelAttestations, type LabelNodes } from './label-attestations.js';
export { ServerIdentity, SERVER_KEY_FILE, SERVER_KEY_SECRET_ID, type ServerSigner } from './server-identity.js';
export { TrustDistribution, type TrustFrame, type TrustSender } from './trust-distribution.js';
export { sealSecret, openSecret, checkMasterKey, type SealedSecret } from './secret-box.js';
export { masterKeysFrom, type MasterKeys, type VersionedKey } from './master-keys.js';
export { openSealedRecord, resealAll, type ResealReport } from './sealed-records.js';
export { labelsSatisfying } from './selector-witness.js';

export interface TrustOptions {
  store: Store;
  clock: Clock;
  /** Told `{ type: 'trust' }` whenever roots, revocations or label attestations change here. */
  hub: EventHub;
  /** Where the control plane key file lives when no master key is set. */
  dataDir: string;
  /** The master keys (no current key: the control plane key stays in a file). */
  keys: MasterKeys;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/** The trust services, wired: what server.ts keeps and the routes use. */
export interface Trust {
  roots: FleetRoots;
  capabilities: CapabilityRegistry;
  /** Each node's latest signed label attestation. */
  labels: LabelAttestations;
  identity: ServerIdentity;
  distribution: TrustDistribution;
  /** The current fleet roots, synchronously (JoinTokenService's `roots`). */
  currentRoots(): string[];
  /** The control plane's own signer. */
  serverSigner(): ServerSigner;
  /** A capability operators delegated to the control plane for `ability` on a host with these labels, or null. */
  capabilityFor(ability: Ability, hostLabels: Labels): Promise<Capability | null>;
  /** Gateway hook: send the trust frame to a session that just became ready. */
  onSessionReady(nodeId: string): void;
  attachGateway(gateway: TrustSender): void;
  /**
   * Reloads roots, revocations and label attestations from the store and pushes a trust frame to
   * connected agents when any changed: for replicas sharing PostgreSQL, where another replica took the write.
   * Returns whether anything changed.
   */
  refresh(): Promise<boolean>;
}

/** Loads roots, revocations and the control plane key, and wires trust distribution. */
export async function createTrust(opts: TrustOptions): Promise<Trust> {
  let distribution: TrustDistribution | null = null;
  const broadcast = () => void distribution?.broadcast();
  // Other replicas hear of a change on the hub (the replica bridge) and read it again.
  const announce = () => opts.hub.publish({ type: 'trust' });
  const roots = new FleetRoots({ store: opts.store, clock: opts.clock, log: opts.log, onUpdate: broadcast, onChanged: announce });
  const capabilities = new CapabilityRegistry({
    store: opts.store,
    clock: opts.clock,
    roots: () => roots.current(),
    onRevocation: () => {
      broadcast();
      announce();
    },
  });
  const labels = new LabelAttestations({
    store: opts.store,
    clock: opts.clock,
    roots: () => roots.current(),
    isRevoked: capabilities.isRevoked,
    onChange: (nodeId) => {
      void distribution?.sendTo(nodeId);
      announce();
    },
  });
  await roots.load();
  await capabilities.loadAll();
  await labels.load();
  const identity = await ServerIdentity.load({ store: opts.store, clock: opts.clock, dataDir: opts.dataDir, keys: opts.keys, log: opts.log });
  distribution = new TrustDistribution({
    rootsUpdates: () => roots.updates(),
    revocations: () => capabilities.revocationRecords(),
    labelAttestation: (nodeId) => labels.current(nodeId),
    capabilityExpiry: (id) => capabilities.expiryOf(id),
    clock: opts.clock,
    log: opts.log,
  });
  const dist = distribution;
  return {
    roots,
    capabilities,
    labels,
    identity,
    distribution: dist,
    currentRoots: () => roots.current(),
    serverSigner: () => identity.signer(),
    capabilityFor: (ability, hostLabels) => capabilities.capabilityFor(identity.did, ability, hostLabels),
    onSessionReady: (nodeId) => dist.onSessionReady(nodeId),
    attachGateway: (gateway) => dist.attachGateway(gateway),
    async refresh() {
      const stamp = () => `${roots.version()}:${capabilities.revocationRecords().length}:${labels.stamp()}`;
      const before = stamp();
      await roots.load();
      await capabilities.loadAll();
      await labels.load();
      const changed = before !== stamp();
      if (changed) dist.broadcast();
      return changed;
    },
  };
}

import { createHash } from 'node:crypto';
import {
  agentTargetPath,
  generateEd25519,
  signRollout,
  type Ed25519KeyPair,
  type NodeStatus,
  type RolloutPlan,
  type SignedRollout,
  type UpdateStateData,
} from '@gpufleet/protocol';
import { EventHub } from '../../events/event-hub.js';
import { startReleaseKit, type ReleaseKit } from '../../releases/__tests__/release-kit.js';
import { soleHolder, type LeaseRole } from '../../replicas/leases.js';
import type { AgentEventRecord, NodeRecord } from '../../store/store.js';
import { RolloutService } from '../rollout-service.js';

/** A fake node as the registry would hold it: only what the rollout service reads. */
export interface KitNode {
  id: string;
  hostname: string;
  labels: Record<string, string>;
  status: NodeStatus;
  mode?: 'agent' | 'ssh';
}

/**
 * A rollout service over a real SQLite store holding a real TUF repository (agent 0.3.0
 * published), a fleet root key, and a fleet the test sets by hand: nodes with statuses and
 * labels, and a session table that records every frame sent.
 */
export interface RolloutKit {
  releases: ReleaseKit;
  root: Ed25519KeyPair;
  nodes: Map<string, KitNode>;
  hub: EventHub;
  frames: Array<{ nodeId: string; frame: any }>;
  service: RolloutService;
  lease: { held: boolean };
  sha256: string;
  /** A fresh service over the same store, as after a restart. */
  restart(): RolloutService;
  /** Another replica's service over the same store and sessions, holding the lease or not. */
  replica(holdsLease: boolean): RolloutService;
  sign(plan?: Partial<RolloutPlan>, over?: Partial<SignedRollout['payload']>, key?: Ed25519KeyPair): SignedRollout;
  /** A host's update-state report, through the service as the event router delivers it. */
  report(nodeId: string, rolloutId: string, state: UpdateStateData['state'], over?: Partial<UpdateStateData>): Promise<void>;
  takeFrames(op?: 'apply' | 'rollback'): string[];
  close(): Promise<void>;
}

let seq = 0;

export async function startRolloutKit(nodes: KitNode[]): Promise<RolloutKit> {
  const releases = await startReleaseKit();
  const audit = releases.audit;
  await releases.repo.uploadKeys(releases.uploadRequest(), audit);
  const bytes = new Uint8Array(Buffer.from('gpufleet-agent 0.3.0'));
  await releases.repo.publish(await releases.publishRequest('0.3.0', bytes), audit);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const root = generateEd25519();
  const map = new Map(nodes.map((n) => [n.id, n]));
  const hub = new EventHub();
  const frames: RolloutKit['frames'] = [];
  const lease = { held: true };
  const build = (holds: () => boolean = () => lease.held) =>
    new RolloutService({
      store: releases.store,
      registry: {
        all: () => [...map.values()].map((n) => ({ id: n.id, hostname: n.hostname, mode: n.mode ?? 'agent' }) as NodeRecord),
        get: (id) => (map.has(id) ? ({ id, hostname: map.get(id)!.hostname, mode: map.get(id)!.mode ?? 'agent' } as NodeRecord) : undefined),
        status: (n) => map.get(n.id)!.status,
        labelsOf: (id) => map.get(id)?.labels ?? {},
        isOnline: (id) => map.get(id)?.status !== 'OFFLINE',
      },
      sessions: {
        sendSerialized: (nodeId, text) => {
          if (map.get(nodeId)?.status === 'OFFLINE') return false;
          frames.push({ nodeId, frame: JSON.parse(text) });
          return true;
        },
      },
      hub,
      clock: releases.clock,
      log: { info: () => undefined, warn: () => undefined },
      trust: { roots: () => [root.did], isRevoked: () => false },
      lease: { ...soleHolder('scheduler'), holds } satisfies LeaseRole,
      leaseHolder: () => ({ name: 'replica-b', url: 'https://b.example:8443' }),
      tickMs: 3_600_000,
    });
  const kit: RolloutKit = {
    releases,
    root,
    nodes: map,
    hub,
    frames,
    service: build(),
    lease,
    sha256,
    restart: () => build(),
    replica: (holdsLease) => build(() => holdsLease),
    sign(plan = {}, over = {}, key = root) {
      return signRollout(
        {
          v: 1,
          release: { kind: 'agent', name: 'gpufleet-agent', version: '0.3.0' },
          target: { path: agentTargetPath('0.3.0'), sha256 },
          selector: '',
          plan: { canary: 1, waves: [50, 100], healthyForMs: 1000, maxFailures: 0, ...plan },
          issuedAt: releases.clock.now(),
          nonce: `nonce-${++seq}-0123456789abcdef`,
          invoker: key.did,
          capability: null,
          ...over,
        },
        key.privateKeyPem,
      );
    },
    async report(nodeId, rolloutId, state, over = {}) {
      const data: UpdateStateData = {
        rolloutId,
        kind: 'agent',
        name: 'gpufleet-agent',
        version: '0.3.0',
        fromVersion: '0.2.0',
        runningVersion: state === 'healthy' ? '0.3.0' : '0.2.0',
        state,
        rolledBack: false,
        reason: null,
        message: '',
        ...over,
      };
      const event: AgentEventRecord = {
        nodeId,
        seq: ++seq,
        id: `ev-${seq}`,
        ts: releases.clock.now(),
        kind: 'update-state',
        gpuUuid: null,
        pciBusId: null,
        message: state,
        data: data as unknown as Record<string, unknown>,
        receivedAt: releases.clock.now(),
      };
      await kit.service.onHostReport(event);
    },
    takeFrames(op) {
      const picked = frames.filter((f) => op === undefined || f.frame.body.op === op);
      frames.splice(0, frames.length, ...frames.filter((f) => !picked.includes(f)));
      return picked.map((f) => map.get(f.nodeId)!.hostname);
    },
    async close() {
      await kit.service.stop();
      await releases.close();
    },
  };
  return kit;
}

/** n ready agent hosts named h1..hn with a pool label. */
export function readyNodes(n: number, labels: Record<string, string> = { pool: 'inference' }): KitNode[] {
  return Array.from({ length: n }, (_, i) => ({ id: `node-${i + 1}`, hostname: `h${i + 1}`, labels, status: 'READY' as const }));
}

import { soleHolder, type LeaseRole } from '../../replicas/leases.js';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import {
  emptyGpuSnapshot,
  generateEd25519,
  gpuInfoOf,
  parseJobFile,
  signJob,
  type AllocHostState,
  type AllocStateData,
  type Capability,
  type Ed25519KeyPair,
  type ServerFrame,
  type SignedJob,
} from '@gpufleet/protocol';
import { EventHub, type HubEvent } from '../../events/event-hub.js';
import { NodeDrains } from '../../services/node-drains.js';
import { NodeRegistry } from '../../services/node-registry.js';
import { sampleFacts } from '../../store/__tests__/store-fixtures.js';
import { openSqliteStore } from '../../store/sqlite-store.js';
import type { AgentEventRecord, NodeRecord, Store } from '../../store/store.js';
import type { AllocationRecord } from '../../store/workload-records.js';
import { ManualClock } from '../../testing/test-server.js';
import type { FrameSender } from '../alloc-delivery.js';
import type { RetryPolicy } from '../job-evaluation.js';
import { WorkloadReads } from '../workload-reads.js';
import { WorkloadService } from '../workload-service.js';
import { NO_OTHER_REPLICAS } from '../../replicas/session-owners.js';

export const T0 = 1_760_000_000_000;

/** Frames the service sent, by node; only connected nodes take them. */
export class FakeSessions implements FrameSender {
  readonly connected = new Set<string>();
  readonly frames: Array<{ nodeId: string; frame: ServerFrame }> = [];

  sendToNode(nodeId: string, frame: ServerFrame): boolean {
    if (!this.connected.has(nodeId)) return false;
    this.frames.push({ nodeId, frame });
    return true;
  }

  /** The `alloc` bodies sent to a node (or to every node), oldest first. */
  allocOrders(nodeId?: string): Array<{ nodeId: string; op: 'start' | 'stop'; allocId: string; specHash?: string; reason?: string }> {
    const out = [];
    for (const { nodeId: n, frame } of this.frames) {
      if (frame.t !== 'alloc' || (nodeId !== undefined && n !== nodeId)) continue;
      const b = frame.body;
      if (b.op === 'start') out.push({ nodeId: n, op: 'start' as const, allocId: b.placement.allocId });
      else out.push({ nodeId: n, op: 'stop' as const, allocId: b.allocId, specHash: b.specHash, reason: b.reason });
    }
    return out;
  }
}

/** A job file as an object (turned into YAML and read by the real parser). */
export type JobFile = Record<string, unknown>;

/** A small process job: `count` allocations of one GPU each. */
export function processJob(name: string, count: number, over: JobFile = {}, group: JobFile = {}): JobFile {
  return {
    name,
    allocations: { web: { count, executor: 'process', command: ['sh', '-c', 'sleep 1000'], resources: { gpus: 1 }, ...group } },
    reschedule: { offline_grace: '30s' },
    ...over,
  };
}

export interface WorkloadKit {
  store: Store;
  clock: ManualClock;
  hub: EventHub;
  hubEvents: HubEvent[];
  registry: NodeRegistry;
  sessions: FakeSessions;
  svc: WorkloadService;
  reads: WorkloadReads;
  drains: NodeDrains;
  root: Ed25519KeyPair;
  /** Adds a READY node with `gpus` H100s; connected (live session) unless `online: false`. */
  addNode(hostname: string, opts?: { gpus?: number; labels?: Record<string, string>; online?: boolean }): Promise<string>;
  /** Signs a job file with `key` (default the fleet root), under `capability` when given. */
  sign(file: JobFile, opts?: { key?: Ed25519KeyPair; capability?: Capability | null }): SignedJob;
  submit(file: JobFile, opts?: { key?: Ed25519KeyPair; capability?: Capability | null }): ReturnType<WorkloadService['submit']>;
  /** A host's alloc-state report, as the gateway hands it to the service (from the allocation's own node unless `nodeId`). */
  report(allocId: string, state: AllocHostState, over?: Partial<AllocStateData> & { nodeId?: string }): Promise<void>;
  /** Reports every live allocation of the job running (healthy) from its node. */
  runAll(job: string, healthy?: boolean | null): Promise<void>;
  /** Evaluates every job now. */
  settle(): Promise<void>;
  /** The job's allocations as stored, oldest first. */
  allocs(job: string): Promise<AllocationRecord[]>;
  /** The job's allocations that are wanted (desired run) and not ended. */
  live(job: string): Promise<AllocationRecord[]>;
  /** Marks a node OFFLINE now (its session gone, its last frame `ago` ms back). */
  goOffline(nodeId: string): void;
  /** The node's session is back: seen, and the service told so. */
  reconnect(nodeId: string): void;
  /** Another replica's workload service over the same store, fleet and sessions, under its own lease (closed with the kit). */
  peer(lease: LeaseRole): Promise<WorkloadService>;
  /** A new workload service over the same store and fleet, as after a server restart (svc and reads are replaced). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

function gpuNode(id: string, hostname: string, gpus: number, labels: Record<string, string>): NodeRecord {
  return {
    id,
    hostname,
    adminState: 'active',
    tokenLabels: labels,
    userLabels: {},
    facts: sampleFacts(hostname),
    gpus: Array.from({ length: gpus }, (_, i) =>
      gpuInfoOf({
        ...emptyGpuSnapshot('nvidia', i),
        uuid: `GPU-${hostname}-${i}`,
        pciBusId: `0000:${(0x17 + i).toString(16)}:00.0`,
        name: 'NVIDIA H100 80GB HBM3',
        memoryTotalBytes: 85_520_809_984,
      }),
    ),
    toolFailures: [],
    agentVersion: '0.1.0',
    simulated: true,
    joinTokenId: null,
    enrolledAt: T0 - 86_400_000,
    lastSeenAt: null,
    ackedSeq: 0,
    cordonReason: null,
    mode: 'agent',
  };
}

/** The workload service over a real SQLite store, a real registry and state machine, a manual clock and fake sessions. */
export async function workloadKit(
  opts: { retry?: RetryPolicy; stopConfirmMs?: number; outputKeepBytes?: number; lease?: LeaseRole } = {},
): Promise<WorkloadKit> {
  const store = await openSqliteStore({ path: ':memory:' });
  await store.migrate();
  const clock = new ManualClock(T0);
  const hub = new EventHub();
  const hubEvents: HubEvent[] = [];
  hub.subscribe((e) => void hubEvents.push(e));
  const registry = new NodeRegistry({ remoteSessions: NO_OTHER_REPLICAS, store, clock, hub, offlineAfterMs: 10_000, latestMetrics: () => null });
  await registry.load();
  const sessions = new FakeSessions();
  const root = generateEd25519();
  const log = { warn: () => undefined, info: () => undefined };
  let seed = 42;
  const makeService = async (lease: LeaseRole = opts.lease ?? soleHolder('scheduler')) => {
    const made = new WorkloadService({
      lease,
      store,
      registry,
      sessions,
      hub,
      clock,
      trust: { currentRoots: () => [root.did], isRevoked: () => false },
      log,
      // Tests evaluate by hand (settle); kicks after reports and node changes still run.
      tickMs: 3_600_000,
      retry: opts.retry ?? { maxReplacements: 2, baseDelayMs: 10_000, maxDelayMs: 60_000 },
      ...(opts.stopConfirmMs === undefined ? {} : { stopConfirmMs: opts.stopConfirmMs }),
      ...(opts.outputKeepBytes === undefined ? {} : { outputKeepBytes: opts.outputKeepBytes }),
      random: () => {
        seed = (seed * 16807) % 2147483647;
        return (seed - 1) / 2147483646;
      },
    });
    await made.load();
    made.start();
    return made;
  };
  const svc = await makeService();
  // Drains count the current service's allocations (restart() replaces it).
  const drains = new NodeDrains({ states: registry.states, runningWork: [{ runningOn: (id) => kit.svc.runningOn(id) }], clock, hub, log, tickMs: 3_600_000 });
  drains.start();
  const reads = new WorkloadReads({ workloads: svc, store, registry, clock });
  let seq = 0;
  const peers: WorkloadService[] = [];

  const kit: WorkloadKit = {
    store,
    clock,
    hub,
    hubEvents,
    registry,
    sessions,
    svc,
    reads,
    drains,
    root,
    async addNode(hostname, o = {}) {
      const id = `did:key:z6MkWorkload${hostname.replace(/[^A-Za-z0-9]/g, '')}`;
      await registry.add(gpuNode(id, hostname, o.gpus ?? 4, o.labels ?? {}));
      if (o.online !== false) {
        registry.seen(id);
        sessions.connected.add(id);
      }
      return id;
    },
    sign(file, o = {}) {
      const key = o.key ?? root;
      const job = parseJobFile(stringify(file));
      return signJob(
        { v: 1, job, issuedAt: clock.now(), nonce: randomBytes(16).toString('hex'), invoker: key.did, capability: o.capability ?? null },
        key.privateKeyPem,
      );
    },
    submit(file, o = {}) {
      return kit.svc.submit({ signed: kit.sign(file, o) }, 'token:test(t1)');
    },
    async report(allocId, state, over = {}) {
      const a = await kit.svc.allocation(allocId);
      const { nodeId, ...data } = over;
      seq++;
      const body: AllocStateData = {
        allocId,
        specHash: null,
        state,
        healthy: state === 'running' ? true : null,
        restarts: 0,
        exitCode: null,
        reason: null,
        message: '',
        ...data,
      };
      const record: AgentEventRecord = {
        nodeId: nodeId ?? a?.nodeId ?? 'did:key:z6MkNobody',
        seq,
        id: `ev-${seq}`,
        ts: clock.now(),
        kind: 'alloc-state',
        gpuUuid: null,
        pciBusId: null,
        message: state,
        data: body as unknown as Record<string, unknown>,
        receivedAt: clock.now(),
      };
      await kit.svc.onHostReport(record);
    },
    async runAll(job, healthy = true) {
      for (const a of await kit.live(job)) await kit.report(a.id, 'running', { healthy });
    },
    settle: () => kit.svc.evaluateAll(),
    allocs: (job) => store.listAllocations({ job }),
    async live(job) {
      return (await store.listAllocations({ job })).filter(
        (a) => a.desired === 'run' && !['failed', 'complete', 'refused', 'stopped', 'lost'].includes(a.status),
      );
    },
    goOffline(nodeId) {
      sessions.connected.delete(nodeId);
      clock.advance(10_001);
      registry.sweep((id) => sessions.connected.has(id));
    },
    reconnect(nodeId) {
      sessions.connected.add(nodeId);
      registry.seen(nodeId);
      kit.svc.onSessionReady(nodeId);
    },
    async restart() {
      await kit.svc.stop();
      kit.svc = await makeService();
      kit.reads = new WorkloadReads({ workloads: kit.svc, store, registry, clock });
    },
    async peer(lease) {
      const made = await makeService(lease);
      peers.push(made);
      return made;
    },
    async close() {
      await drains.stop();
      for (const p of peers) await p.stop();
      await kit.svc.stop();
      await store.close();
    },
  };
  return kit;
}

import { emptyGpuSnapshot, gpuInfoOf, gpuSampleOf, type GpuSample, type MetricsBody } from '@gpufleet/protocol';
import { openSqliteStore } from '../../store/sqlite-store.js';
import type { AgentEventRecord, NodeRecord, Store } from '../../store/store.js';
import { EventHub, type HubEvent } from '../../events/event-hub.js';
import { NodeRegistry } from '../../services/node-registry.js';
import { NO_ALLOCATIONS, NodeViews } from '../../services/node-views.js';
import { NodeDrains } from '../../services/node-drains.js';
import { ManualClock } from '../../testing/test-server.js';
import { sampleFacts } from '../../store/__tests__/store-fixtures.js';
import { createHealth } from '../index.js';
import { parseHealthPolicy, type HealthPolicy } from '../health-policy.js';
import type { HealthEngine, PolicyAlert } from '../health-engine.js';
import { NO_OTHER_REPLICAS } from '../../replicas/session-owners.js';

export const T0 = 1_760_000_000_000;
export const N1 = 'did:key:z6MkHealthNodeOne';
export const N2 = 'did:key:z6MkHealthNodeTwo';

export function uuid(i: number): string {
  return `GPU-0000000${i}-1111-2222-3333-444444444444`;
}

export function pci(i: number): string {
  return `0000:${(0x17 + i).toString(16)}:00.0`;
}

/** An active node with `gpus` H100s (UUID and PCI bus id set). */
export function healthNode(id: string, hostname: string, gpus = 4): NodeRecord {
  return {
    id,
    hostname,
    adminState: 'active',
    tokenLabels: { region: hostname.endsWith('1') ? 'eu' : 'us' },
    userLabels: {},
    facts: sampleFacts(hostname),
    gpus: Array.from({ length: gpus }, (_, i) =>
      gpuInfoOf({ ...emptyGpuSnapshot('nvidia', i), uuid: uuid(i), pciBusId: pci(i), name: 'NVIDIA H100 80GB HBM3' }),
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

export interface HealthKit {
  store: Store;
  clock: ManualClock;
  hub: EventHub;
  hubEvents: HubEvent[];
  alerts: PolicyAlert[];
  registry: NodeRegistry;
  /** Node views over the registry and the engine (as the server wires them). */
  views: NodeViews;
  /** Drains over the registry's states and `runningWork` (default: nothing runs). */
  drains: NodeDrains;
  engine: HealthEngine;
  seq: number;
  /** Feeds an agent event (seq assigned, stored like the gateway does) and waits for its effects. */
  event(partial: Partial<AgentEventRecord> & Pick<AgentEventRecord, 'kind'>): Promise<AgentEventRecord>;
  /** A metrics frame for N1 (or nodeId) with the given per-GPU readings; waits for its effects. */
  metrics(gpus: Array<Partial<GpuSample>>, nodeId?: string): Promise<void>;
  close(): Promise<void>;
}

export interface KitOptions {
  policy?: string | HealthPolicy;
  runningWork?: (nodeId: string) => number;
  offlineGraceMs?: number;
  nodes?: NodeRecord[];
}

/** A store, registry and health engine wired like server.ts wires them, with a manual clock. */
export async function healthKit(opts: KitOptions = {}): Promise<HealthKit> {
  const store = await openSqliteStore({ path: ':memory:' });
  await store.migrate();
  const clock = new ManualClock(T0);
  const hub = new EventHub();
  const hubEvents: HubEvent[] = [];
  hub.subscribe((e) => hubEvents.push(e));
  const latest = new Map<string, MetricsBody>();
  const registry = new NodeRegistry({
    remoteSessions: NO_OTHER_REPLICAS,
    store,
    clock,
    hub,
    offlineAfterMs: 15_000,
    latestMetrics: (id) => latest.get(id) ?? null,
    drainTimeoutMs: 600_000,
  });
  for (const n of opts.nodes ?? [healthNode(N1, 'gpu-1'), healthNode(N2, 'gpu-2')]) await registry.add(n);
  const policy = opts.policy === undefined ? undefined : typeof opts.policy === 'string' ? parseHealthPolicy(opts.policy, 'test') : opts.policy;
  const alerts: PolicyAlert[] = [];
  const engine = await createHealth({
    config: { healthPolicy: null, offlineGraceMs: opts.offlineGraceMs ?? 600_000 },
    store,
    registry,
    clock,
    hub,
    onAlert: (a) => alerts.push(a),
    ...(policy ? { policy } : {}),
  });
  const views = new NodeViews({
    registry,
    states: registry.states,
    health: engine,
    allocations: NO_ALLOCATIONS,
    latestMetrics: (id) => latest.get(id) ?? null,
  });
  const running = opts.runningWork ?? (() => 0);
  const drains = new NodeDrains({ states: registry.states, runningWork: [{ runningOn: running }], clock, hub, log: { warn: () => undefined } });
  const kit: HealthKit = {
    store,
    clock,
    hub,
    hubEvents,
    alerts,
    registry,
    views,
    drains,
    engine,
    seq: 0,
    async event(partial) {
      kit.seq++;
      const record: AgentEventRecord = {
        nodeId: N1,
        seq: kit.seq,
        id: `ev-${kit.seq}`,
        ts: clock.now(),
        gpuUuid: null,
        pciBusId: null,
        message: partial.kind,
        data: {},
        receivedAt: clock.now(),
        ...partial,
      };
      await store.insertAgentEvents([record]);
      engine.onAgentEvent(record);
      await engine.flush();
      return record;
    },
    async metrics(gpus, nodeId = N1) {
      const body: MetricsBody = {
        ts: clock.now(),
        host: { cpuPct: 1, load1: 0, load5: 0, load15: 0, memoryUsedBytes: 1, memoryTotalBytes: 2, disks: [], net: [] },
        gpus: gpus.map((g, i) => ({ ...gpuSampleOf({ ...emptyGpuSnapshot('nvidia', i), uuid: uuid(i), pciBusId: pci(i) }), ...g })),
      };
      latest.set(nodeId, body);
      engine.onMetrics(nodeId, body);
      await engine.flush();
    },
    close: () => store.close(),
  };
  return kit;
}

/** An XID event as the agent's kernel watcher sends it. */
export function xid(code: number, gpu = 0, extra: Partial<AgentEventRecord> = {}): Partial<AgentEventRecord> & Pick<AgentEventRecord, 'kind'> {
  const line = `NVRM: Xid (PCI:${pci(gpu).slice(0, -2)}): ${code}, pid=1234, name=python3, test line`;
  return { kind: 'xid', gpuUuid: uuid(gpu), pciBusId: pci(gpu), message: line, data: { code, line, pid: 1234, process: 'python3' }, ...extra };
}

/** A counter event: `counter` moved from `previous` to `value` on GPU `gpu`. */
export function counter(
  name: string,
  previous: number | boolean | null,
  value: number | boolean,
  gpu = 0,
): Partial<AgentEventRecord> & Pick<AgentEventRecord, 'kind'> {
  return {
    kind: 'counter',
    gpuUuid: uuid(gpu),
    pciBusId: pci(gpu),
    message: `${name} ${String(previous)} -> ${String(value)}`,
    data: { counter: name, previous, current: value },
  };
}

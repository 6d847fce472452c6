import type { PoolDetailView, PoolEventView, PoolMemberView, PoolOperationView, PoolView } from '../lib/pools.js';

/*
 * Pool shapes as the server writes them (protocol pool-views.ts), for component tests: a
 * pool of sim hosts with every field filled as the pool manager fills it.
 */

export const POOL_NODE_A = 'did:key:z6MkPoolNodeAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
export const POOL_NODE_B = 'did:key:z6MkPoolNodeBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';

export function poolMemberFixture(i: number, over: Partial<PoolMemberView> = {}): PoolMemberView {
  return {
    instanceId: `sim-${i}`,
    nodeId: i === 0 ? POOL_NODE_A : POOL_NODE_B,
    hostname: `sim-host-${i}`,
    zone: 'sim-a',
    instanceType: 'sim.h100x8',
    state: 'active',
    nodeStatus: 'READY',
    health: 'healthy',
    gpus: 8,
    allocations: i,
    pricePerHour: 12.5,
    provisionedAt: `2026-12-05T10:0${i}:00.000Z`,
    joinedAt: `2026-12-05T10:0${i}:30.000Z`,
    ...over,
  };
}

export function poolOperationFixture(over: Partial<PoolOperationView> = {}): PoolOperationView {
  return {
    id: 'op_1',
    pool: 'training',
    kind: 'provision',
    stage: 'joining',
    reason: 'scale up 1: 2 allocations pending, no free H100',
    oldNodeId: null,
    oldHostname: null,
    instanceId: 'sim-2',
    newNodeId: null,
    newHostname: null,
    zone: 'sim-a',
    zonesTried: ['sim-a'],
    attempts: 1,
    error: null,
    startedAt: '2026-12-05T10:05:00.000Z',
    updatedAt: '2026-12-05T10:05:10.000Z',
    deadlineAt: '2026-12-05T10:15:00.000Z',
    ...over,
  };
}

export function poolSummaryOf(d: PoolDetailView): PoolView {
  const {
    name,
    provider,
    providerType,
    instanceType,
    ready,
    current,
    desired,
    desiredSource,
    minNodes,
    maxNodes,
    gpus,
    allocatedPct,
    costPerHour,
    inFlight,
    lastScaleAt,
  } = d;
  return {
    name,
    provider,
    providerType,
    instanceType,
    ready,
    current,
    desired,
    desiredSource,
    minNodes,
    maxNodes,
    gpus,
    allocatedPct,
    costPerHour,
    inFlight,
    lastScaleAt,
  };
}

/** A pool of two active sim hosts wanting three (min 2, max 10), one provision on its way. */
export function poolDetailFixture(name = 'training', over: Partial<PoolDetailView> = {}): PoolDetailView {
  const members = [poolMemberFixture(0), poolMemberFixture(1)];
  const operations = [poolOperationFixture({ pool: name })];
  return {
    name,
    provider: 'sim',
    providerType: 'sim',
    instanceType: 'sim.h100x8',
    ready: 2,
    current: 3,
    desired: 3,
    desiredSource: 'autoscale',
    minNodes: 2,
    maxNodes: 10,
    gpus: 16,
    allocatedPct: 75,
    costPerHour: 25,
    inFlight: 1,
    lastScaleAt: '2026-12-05T10:05:00.000Z',
    zones: ['sim-a', 'sim-b'],
    labels: { pool: name },
    cooldownMs: 600_000,
    autoscaling: { pendingAllocations: true, scaleUpAtPct: 80, scaleDownAtPct: 20, idleForMs: 1_800_000 },
    health: { replaceAfterMs: 120_000, maxParallelReplacements: 2, maxUnavailable: '10%', joinTimeoutMs: 600_000 },
    members,
    operations,
    manualReason: null,
    history: [
      { at: '2026-12-05T10:03:00.000Z', ready: 2, desired: 2 },
      { at: '2026-12-05T10:04:00.000Z', ready: 2, desired: 2 },
      { at: '2026-12-05T10:05:00.000Z', ready: 2, desired: 3 },
    ],
    ...over,
  };
}

export function poolEventFixture(id: number, over: Partial<PoolEventView> = {}): PoolEventView {
  return {
    id,
    pool: 'training',
    at: new Date(Date.parse('2026-12-05T10:00:00.000Z') + id * 1000).toISOString(),
    kind: 'provisioned',
    message: `event ${id}`,
    operationId: null,
    nodeId: null,
    instanceId: null,
    ...over,
  };
}

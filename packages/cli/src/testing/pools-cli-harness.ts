import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { PoolDetailView, PoolEventView, PoolMemberView, PoolOperationView, PoolView } from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { captureIo, type CaptureOptions, type CapturedIo } from './capture-io.js';
import { FakeRunApi } from './fake-run-api.js';

/** Fixtures and a CLI runner against a fake API for the `gpufleet pools` tests. */

export const NOW = Date.UTC(2026, 11, 5, 12, 10, 0);
export const T0 = '2026-12-05T12:00:00.000Z';

export const POOLS_FILE = `providers:
  sim: { type: sim }
pools:
  demo:
    provider: sim
    instance_type: sim.h100x8
    min_nodes: 4
    max_nodes: 12
`;

export function poolOf(name: string, over: Partial<PoolView> = {}): PoolView {
  return {
    name,
    provider: 'aws',
    providerType: 'aws',
    instanceType: 'p5.48xlarge',
    ready: 5,
    current: 6,
    desired: 8,
    desiredSource: 'manual',
    minNodes: 2,
    maxNodes: 100,
    gpus: 40,
    allocatedPct: 62.5,
    costPerHour: 491.6,
    inFlight: 3,
    lastScaleAt: T0,
    ...over,
  };
}

export function memberOf(i: number, over: Partial<PoolMemberView> = {}): PoolMemberView {
  return {
    instanceId: `i-0abc${i}`,
    nodeId: `did:key:z6MkPool${i}`,
    hostname: `train-${i}`,
    zone: 'us-east-1a',
    instanceType: 'p5.48xlarge',
    state: 'active',
    nodeStatus: 'READY',
    health: 'healthy',
    gpus: 8,
    allocations: i,
    pricePerHour: 98.32,
    provisionedAt: T0,
    joinedAt: T0,
    ...over,
  };
}

export function opOf(id: string, over: Partial<PoolOperationView> = {}): PoolOperationView {
  return {
    id,
    pool: 'training',
    kind: 'replace',
    stage: 'joining',
    reason: 'unhealthy for 2m: XID 79',
    oldNodeId: 'train-1',
    oldHostname: null,
    instanceId: 'i-0new1',
    newNodeId: null,
    newHostname: null,
    zone: 'us-east-1b',
    zonesTried: ['us-east-1a', 'us-east-1b'],
    attempts: 2,
    error: null,
    startedAt: T0,
    updatedAt: T0,
    deadlineAt: null,
    ...over,
  };
}

export function detailOf(over: Partial<PoolDetailView> = {}): PoolDetailView {
  return {
    ...poolOf('training'),
    zones: ['us-east-1a', 'us-east-1b'],
    labels: { pool: 'training', team: 'research' },
    cooldownMs: 600_000,
    autoscaling: { pendingAllocations: true, scaleUpAtPct: 80, scaleDownAtPct: 20, idleForMs: 1_800_000 },
    health: { replaceAfterMs: 120_000, maxParallelReplacements: 2, maxUnavailable: '10%', joinTimeoutMs: 600_000 },
    members: [memberOf(1, { health: 'unhealthy', nodeStatus: 'CORDONED' }), memberOf(2), memberOf(3, { state: 'terminated' })],
    operations: [opOf('op-1'), opOf('op-0', { kind: 'provision', stage: 'failed', error: 'capacity: no p5 in us-east-1a', oldNodeId: null })],
    manualReason: 'demo tomorrow',
    history: [],
    ...over,
  };
}

export function eventOf(id: number, pool = 'training', over: Partial<PoolEventView> = {}): PoolEventView {
  return {
    id,
    pool,
    at: T0,
    kind: 'scale-up',
    message: `scale up 2: 5 allocations pending, no free H100 (#${id})`,
    operationId: null,
    nodeId: null,
    instanceId: null,
    ...over,
  };
}

/** Registers the hooks (a home folder with pools files, a fake API per test) and returns the runner. */
export function poolsCli() {
  let home = '';
  let api: FakeRunApi;
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'gpufleet-pools-'));
    writeFileSync(join(home, 'pools.yaml'), POOLS_FILE);
    writeFileSync(join(home, 'bad.yaml'), POOLS_FILE.replace('min_nodes: 4', 'min_nodes: 40'));
    writeFileSync(join(home, 'huge.yaml'), `${POOLS_FILE}#${'x'.repeat(1_048_576)}\n`);
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));
  beforeEach(async () => {
    api = await new FakeRunApi().start();
  });
  afterEach(() => api.close());
  return {
    get home() {
      return home;
    },
    get api() {
      return api;
    },
    async run(argv: string[], opts: CaptureOptions = {}, io: CapturedIo = captureIo({ home, cwd: home, columns: 200, ...opts })) {
      const code = await runCli(['--server', api.url, '--token', 'gft_t_s', ...argv], io, { now: () => NOW });
      return { code, stdout: io.stdout, stderr: io.stderr, io };
    },
    posted(path: string) {
      return api.requests.filter((r) => r.method === 'POST' && r.path === path).map((r) => r.body);
    },
  };
}

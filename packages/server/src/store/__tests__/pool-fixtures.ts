import type { PoolSpec, ProviderSpec } from '@gpufleet/protocol';
import type { PoolConfigRecord, PoolEventRecord, PoolMemberRecord, PoolOperationRecord, PoolStateRecord, ProviderConfigRecord } from '../store.js';
import { T0 } from './store-fixtures.js';

/** Sample pool records for the store contract suite (0008_pools): every field set, awkward values where it helps. */

/** One provider of each type, every field set. */
export const SAMPLE_PROVIDER_SPECS: Record<string, ProviderSpec> = {
  sim: {
    type: 'sim',
    instanceTypes: {
      'sim.h100x8': { gpuModel: 'NVIDIA H100 80GB HBM3', gpus: 8, pricePerHour: 23.92 },
      'sim.a10x1': { gpuModel: 'A10', gpus: 1, pricePerHour: 0.75 },
    },
    bootMs: 2000,
    failRate: 0.25,
    seed: 'pool',
  },
  rack: { type: 'ssh', hostsFile: 'hosts/rack 1 "ünï".yaml' },
  lambda: { type: 'lambda', apiKeyEnv: 'LAMBDA_API_KEY', endpoint: 'http://127.0.0.1:8443/api/v1', sshKeyNames: ['ops', 'ci'] },
  aws: {
    type: 'aws',
    region: 'us-east-1',
    endpoint: null,
    imageId: 'ami-0abcdef1234567890',
    subnets: { 'us-east-1a': 'subnet-0123456789abcdef0' },
    securityGroupIds: ['sg-0123456789abcdef0'],
    keyName: null,
    instanceProfile: 'arn:aws:iam::123456789012:instance-profile/gpufleet',
  },
};

export function sampleProvider(name: string, overrides: Partial<ProviderConfigRecord> = {}): ProviderConfigRecord {
  return {
    name,
    spec: SAMPLE_PROVIDER_SPECS[name] ?? SAMPLE_PROVIDER_SPECS.sim!,
    baseDir: '/etc/gpufleet/pools',
    appliedAt: T0 + 10,
    appliedBy: 'token:ops(t1)',
    ...overrides,
  };
}

export function samplePoolSpec(name: string, provider = 'sim', overrides: Partial<PoolSpec> = {}): PoolSpec {
  return {
    name,
    provider,
    instanceType: 'sim.h100x8',
    zones: ['us-east-1a', 'us-east-1b'],
    image: null,
    minNodes: 1,
    maxNodes: 8,
    cooldownMs: 300_000,
    labels: { pool: name, 'gpufleet.io/tier': 'train' },
    autoscaling: { pendingAllocations: true, scaleUpAtPct: 80, scaleDownAtPct: null, idleForMs: 1_800_000, maxStep: 10 },
    health: { replaceAfterMs: 120_000, maxParallelReplacements: 1, maxUnavailable: { kind: 'percent', percent: 12.5 }, joinTimeoutMs: 600_000 },
    pricePerHour: 23.92,
    ...overrides,
  };
}

export function samplePool(name: string, provider = 'sim', overrides: Partial<PoolSpec> = {}): PoolConfigRecord {
  return { name, spec: samplePoolSpec(name, provider, overrides), appliedAt: T0 + 10, appliedBy: 'token:ops(t1)' };
}

export function sampleState(pool: string, overrides: Partial<PoolStateRecord> = {}): PoolStateRecord {
  return {
    pool,
    desired: 3,
    desiredSource: 'manual',
    manualReason: 'training run "ünï" next week',
    lastScaleUpAt: T0 + 100,
    lastScaleDownAt: T0 + 50,
    updatedAt: T0 + 100,
    ...overrides,
  };
}

export function sampleMember(instanceId: string, overrides: Partial<PoolMemberRecord> = {}): PoolMemberRecord {
  return {
    instanceId,
    pool: 'train',
    provider: 'sim',
    operationId: `op-${instanceId}`,
    joinTokenId: `jt-${instanceId}`,
    nodeId: `did:key:z6Mk${instanceId}`,
    instanceType: 'sim.h100x8',
    zone: 'us-east-1a',
    state: 'active',
    pricePerHour: 32.77,
    provisionedAt: T0 + 1000,
    joinedAt: T0 + 2000,
    terminatedAt: null,
    idleSince: T0 + 3000,
    ...overrides,
  };
}

export function sampleOperation(id: string, overrides: Partial<PoolOperationRecord> = {}): PoolOperationRecord {
  return {
    id,
    pool: 'train',
    kind: 'replace',
    stage: 'requested',
    reason: 'node unhealthy for 2m: XID 79',
    oldNodeId: 'did:key:z6MkOld',
    instanceId: 'i-0abc',
    joinTokenId: 'jt-1',
    newNodeId: 'did:key:z6MkNew',
    zone: 'us-east-1a',
    zonesTried: ['us-east-1b', 'us-east-1a'],
    attempts: 2,
    error: 'capacity: no H100 in us-east-1b',
    startedAt: T0 + 1000,
    updatedAt: T0 + 1500,
    deadlineAt: T0 + 600_000,
    notBefore: T0 + 1600,
    ...overrides,
  };
}

/** An operation with every nullable field null. */
export function bareOperation(id: string, overrides: Partial<PoolOperationRecord> = {}): PoolOperationRecord {
  return sampleOperation(id, {
    kind: 'provision',
    oldNodeId: null,
    instanceId: null,
    joinTokenId: null,
    newNodeId: null,
    zone: null,
    zonesTried: [],
    attempts: 0,
    error: null,
    deadlineAt: null,
    notBefore: null,
    ...overrides,
  });
}

export function sampleEvent(pool: string, n: number, overrides: Partial<Omit<PoolEventRecord, 'id'>> = {}): Omit<PoolEventRecord, 'id'> {
  return {
    pool,
    at: T0 + n,
    kind: 'scale-up',
    message: `scale up ${n}: 5 allocations pending, no free H100 "ünï"`,
    operationId: n % 2 === 0 ? `op-${n}` : null,
    nodeId: n % 3 === 0 ? `did:key:z6Mk${n}` : null,
    instanceId: n % 5 === 0 ? `i-${n}` : null,
    ...overrides,
  };
}

import { z } from 'zod';
import { isLabelKey } from './selector.js';

/**
 * Pools and providers (issue 11) as the server holds them: the pools file (pool-file.ts) with
 * every default filled in and every unit resolved (durations in ms). A pools file is applied
 * whole: its providers and pools replace the ones applied before.
 */

const MAX_DURATION_MS = 30 * 86_400_000;
const durationMs = z.number().int().nonnegative().max(MAX_DURATION_MS);

/** Pool and provider names: DNS-label-like, so they read well in labels and URLs. */
export const POOL_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const PROVIDER_NAME = POOL_NAME;

export const PROVIDER_TYPES = ['sim', 'ssh', 'lambda', 'aws'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

/** The label every provisioned node carries, naming its pool (set through its join token). */
export const POOL_LABEL = 'pool';

const labelMap = z.record(z.string().refine(isLabelKey, 'not a valid label key'), z.string().max(256));

/** Simulated hosts started inside the server process; they enroll with the minted token. */
export const SimProviderSpec = z.strictObject({
  type: z.literal('sim'),
  /** Per instance type, the GPU model and count its hosts get (e.g. `sim.h100x8`); unknown types fall back to 8 x H100. */
  instanceTypes: z.record(z.string(), z.strictObject({ gpuModel: z.string(), gpus: z.number().int().min(1).max(64), pricePerHour: z.number().nonnegative() })),
  /** How long a simulated host "boots" before it enrolls. */
  bootMs: durationMs,
  /** Share of provisions refused with a capacity error (0..1), seeded: for scenarios and the bench. */
  failRate: z.number().min(0).max(1),
  seed: z.union([z.string(), z.number()]),
});
export type SimProviderSpec = z.infer<typeof SimProviderSpec>;

/** Existing machines bootstrapped over SSH: "provision" takes a free host of the hosts file. */
export const SshProviderSpec = z.strictObject({
  type: z.literal('ssh'),
  /** Path of the hosts file as given (resolved against the pools file's folder). */
  hostsFile: z.string().min(1).max(4096),
});
export type SshProviderSpec = z.infer<typeof SshProviderSpec>;

/** Lambda Cloud (https://cloud.lambdalabs.com/api/v1): the API key is read from an environment variable. */
export const LambdaProviderSpec = z.strictObject({
  type: z.literal('lambda'),
  apiKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'),
  /** Base URL of the API; default https://cloud.lambdalabs.com/api/v1 (tests point it at a local fake). */
  endpoint: z.string().url(),
  /** Names of SSH keys registered with Lambda to put on new instances (the API needs one). */
  sshKeyNames: z.array(z.string().min(1).max(256)).min(1).max(16),
});
export type LambdaProviderSpec = z.infer<typeof LambdaProviderSpec>;

/** AWS EC2 through @aws-sdk/client-ec2; credentials from the usual AWS chain. */
export const AwsProviderSpec = z.strictObject({
  type: z.literal('aws'),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as us-east-1'),
  /** EC2 endpoint override (tests, VPC endpoints); null: the SDK's default for the region. */
  endpoint: z.string().url().nullable(),
  /** AMI to launch unless a pool names its own `image`. */
  imageId: z
    .string()
    .regex(/^ami-[0-9a-f]{8,17}$/, 'an AMI id such as ami-0abcdef1234567890')
    .nullable(),
  /** Subnet per availability zone (a zone with no subnet here is launched with the default VPC's). */
  subnets: z.record(z.string(), z.string().regex(/^subnet-[0-9a-f]{8,17}$/)),
  securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/)).max(16),
  keyName: z.string().max(255).nullable(),
  /** Instance profile name or ARN for the instances (null: none). */
  instanceProfile: z.string().max(2048).nullable(),
});
export type AwsProviderSpec = z.infer<typeof AwsProviderSpec>;

export const ProviderSpec = z.discriminatedUnion('type', [SimProviderSpec, SshProviderSpec, LambdaProviderSpec, AwsProviderSpec]);
export type ProviderSpec = z.infer<typeof ProviderSpec>;

/** At most this many (or this share) of a pool's nodes may be unavailable at once because of us. */
export const MaxUnavailable = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('count'), count: z.number().int().min(0).max(100_000) }),
  z.strictObject({ kind: z.literal('percent'), percent: z.number().min(0).max(100) }),
]);
export type MaxUnavailable = z.infer<typeof MaxUnavailable>;

export const PoolAutoscaling = z.strictObject({
  /** Grow while allocations are pending because nothing fits. */
  pendingAllocations: z.boolean(),
  /** Grow when the pool's allocated GPU share is at or above this percent (null: never on utilization). */
  scaleUpAtPct: z.number().min(0).max(100).nullable(),
  /** Shrink idle nodes while the allocated share stays at or below this percent (null: never shrink). */
  scaleDownAtPct: z.number().min(0).max(100).nullable(),
  /** A node must be idle (no allocation, no run in flight) this long before it is removed. */
  idleForMs: durationMs,
  /** Nodes added by one decision at most. */
  maxStep: z.number().int().min(1).max(1000),
});
export type PoolAutoscaling = z.infer<typeof PoolAutoscaling>;

export const PoolHealth = z.strictObject({
  /** A node UNHEALTHY this long is replaced (provision first, then drain, then terminate). */
  replaceAfterMs: durationMs,
  maxParallelReplacements: z.number().int().min(0).max(1000),
  maxUnavailable: MaxUnavailable,
  /** A provisioned instance that has not enrolled within this is terminated and counted failed. */
  joinTimeoutMs: durationMs.min(1000),
});
export type PoolHealth = z.infer<typeof PoolHealth>;

export const PoolSpec = z
  .strictObject({
    name: z.string().regex(POOL_NAME, 'lowercase letters, digits and dashes'),
    /** Name of a provider of the same pools file. */
    provider: z.string().regex(PROVIDER_NAME),
    instanceType: z.string().min(1).max(128),
    /** Zones (or regions for Lambda) to use, in order of preference; empty: the provider chooses. */
    zones: z.array(z.string().min(1).max(64)).max(32),
    /** Image to launch where the provider has images (AWS AMI); null: the provider's default. */
    image: z.string().min(1).max(256).nullable(),
    minNodes: z.number().int().min(0).max(100_000),
    maxNodes: z.number().int().min(0).max(100_000),
    /** After a scale decision, no other in the same direction for this long. */
    cooldownMs: durationMs,
    /** Labels of every node of the pool; `pool: <name>` is always among them. */
    labels: labelMap,
    autoscaling: PoolAutoscaling.nullable(),
    health: PoolHealth,
    /** $/h of one node; null: the provider's own price where it has one, else unknown. */
    pricePerHour: z.number().nonnegative().nullable(),
  })
  .refine((p) => p.minNodes <= p.maxNodes, { message: 'min_nodes is above max_nodes', path: ['minNodes'] });
export type PoolSpec = z.infer<typeof PoolSpec>;

export const PoolsConfig = z.strictObject({
  providers: z.record(z.string().regex(PROVIDER_NAME), ProviderSpec),
  pools: z.record(z.string().regex(POOL_NAME), PoolSpec),
});
export type PoolsConfig = z.infer<typeof PoolsConfig>;

/** Defaults the pools file fills in (pool-file.ts); here so the docs, CLI and server agree. */
export const POOL_DEFAULTS = {
  cooldownMs: 5 * 60_000,
  autoscaling: { pendingAllocations: true, scaleUpAtPct: 80, scaleDownAtPct: 20, idleForMs: 30 * 60_000, maxStep: 10 },
  health: { replaceAfterMs: 2 * 60_000, maxParallelReplacements: 1, maxUnavailable: { kind: 'percent', percent: 10 }, joinTimeoutMs: 10 * 60_000 },
  lambdaEndpoint: 'https://cloud.lambdalabs.com/api/v1',
  sim: { bootMs: 2000, failRate: 0, seed: 'pool' },
} as const;

/** The number of nodes `max_unavailable` allows for a pool of `size` (a share rounds down, never below 1 for a non-zero share of a non-empty pool). */
export function maxUnavailableNodes(m: MaxUnavailable, size: number): number {
  if (m.kind === 'count') return m.count;
  if (m.percent === 0 || size === 0) return 0;
  return Math.max(1, Math.floor((size * m.percent) / 100));
}

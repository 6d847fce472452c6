import { isPair, visit, type Document } from 'yaml';
import { z } from 'zod';
import { parseJobDuration } from './job-units.js';
import { AwsProviderSpec, POOL_DEFAULTS, POOL_LABEL, POOL_NAME, PoolsConfig } from './pool-spec.js';
import { protoKeyPath, readYamlFile, shownValue, unitField, withoutUndefined, yamlKeyText, type YamlFileFormat, type YamlFileProblem } from './yaml-file.js';

/**
 * The pools file (issue 11): providers and pools as people write them, in snake_case with human
 * units (`cooldown: 10m`, `max_unavailable: 10%`), turned into the PoolsConfig the server holds
 * (pool-spec.ts), every default from POOL_DEFAULTS filled in. Every problem names its line, column
 * and field (`pools.yaml:12:16: pools.training.min_nodes: 5 is above max_nodes (2)`), as job files
 * do; yaml-file.ts reads and reports, this file gives the schema and the rules across fields.
 */

/** A pools file larger than this is refused before it is parsed. */
export const POOLS_FILE_MAX_BYTES = 1_048_576;

/** What a sim instance type is when the file does not describe it (the sim provider's own fallback). */
export const SIM_INSTANCE_DEFAULTS = { gpuModel: 'H100', gpus: 8, pricePerHour: 0 } as const;

export type PoolsFileProblem = YamlFileProblem;

export interface PoolsFileOptions {
  /** The file's name, put in front of each position (`pools.yaml:9:5`). */
  file?: string;
}

// ---- the file's schema: types, units and defaults; PoolsConfig then checks ranges and formats ----

const duration = (fallback: number, min = 0, minText = '') => unitField(parseJobDuration, fallback, min, minText);
const oneOrList = <T extends z.ZodType>(item: T) => z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(item));
const nullableText = () => z.string().nullable().default(null);

/** `80`, `80%` or `~` (never): a share of a pool's GPUs. */
function percentField(fallback: number | null) {
  return z
    .unknown()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return fallback;
      if (value === null || typeof value === 'number') return value;
      const m = typeof value === 'string' ? /^(\d{1,3}(?:\.\d{1,3})?) ?%$/.exec(value) : null;
      if (m) return Number(m[1]);
      ctx.addIssue({ code: 'custom', message: `${shownValue(value)} is not a percent such as 80 or 80%` });
      return z.NEVER;
    });
}

/** `max_unavailable`: a count of nodes (`2`) or a share of the pool (`10%`). */
const maxUnavailableField = z
  .unknown()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined) return { ...POOL_DEFAULTS.health.maxUnavailable };
    if (typeof value === 'number') return { kind: 'count' as const, count: value };
    const m = typeof value === 'string' ? /^(\d{1,6}(?:\.\d{1,3})?)( ?%)?$/.exec(value) : null;
    if (m) return m[2] ? { kind: 'percent' as const, percent: Number(m[1]) } : { kind: 'count' as const, count: Number(m[1]) };
    ctx.addIssue({ code: 'custom', message: `${shownValue(value)} is not a number of nodes (2) or a share of the pool (10%)` });
    return z.NEVER;
  });

const FileSimInstanceType = z.strictObject({
  gpu_model: z.string().default(SIM_INSTANCE_DEFAULTS.gpuModel),
  gpus: z.number().default(SIM_INSTANCE_DEFAULTS.gpus),
  price_per_hour: z.number().default(SIM_INSTANCE_DEFAULTS.pricePerHour),
});

const FileSimProvider = z.strictObject({
  type: z.literal('sim'),
  instance_types: z.record(z.string(), FileSimInstanceType).default({}),
  boot: duration(POOL_DEFAULTS.sim.bootMs),
  fail_rate: z.number().default(POOL_DEFAULTS.sim.failRate),
  seed: z.union([z.string(), z.number()]).default(POOL_DEFAULTS.sim.seed),
});

const FileSshProvider = z.strictObject({
  type: z.literal('ssh'),
  hosts_file: z.string(),
});

const FileLambdaProvider = z.strictObject({
  type: z.literal('lambda'),
  api_key_env: z.string(),
  endpoint: z.string().default(POOL_DEFAULTS.lambdaEndpoint),
  ssh_key_names: oneOrList(z.string()),
});

const FileAwsProvider = z.strictObject({
  type: z.literal('aws'),
  region: z.string(),
  endpoint: nullableText(),
  image_id: nullableText(),
  subnets: z.record(z.string(), z.string()).default({}),
  security_group_ids: oneOrList(z.string()).default([]),
  key_name: nullableText(),
  instance_profile: nullableText(),
});

const FileProvider = z.discriminatedUnion('type', [FileSimProvider, FileSshProvider, FileLambdaProvider, FileAwsProvider]);

const FileAutoscaling = z.strictObject({
  pending_allocations: z.boolean().default(POOL_DEFAULTS.autoscaling.pendingAllocations),
  scale_up_at: percentField(POOL_DEFAULTS.autoscaling.scaleUpAtPct),
  scale_down_at: percentField(POOL_DEFAULTS.autoscaling.scaleDownAtPct),
  idle_for: duration(POOL_DEFAULTS.autoscaling.idleForMs),
  max_step: z.number().default(POOL_DEFAULTS.autoscaling.maxStep),
});

const FileHealth = z.strictObject({
  replace_after: duration(POOL_DEFAULTS.health.replaceAfterMs),
  max_parallel_replacements: z.number().default(POOL_DEFAULTS.health.maxParallelReplacements),
  max_unavailable: maxUnavailableField,
  join_timeout: duration(POOL_DEFAULTS.health.joinTimeoutMs, 1000, '1s'),
});

const FilePool = z.strictObject({
  provider: z.string(),
  instance_type: z.string(),
  zones: oneOrList(z.string()).default([]),
  image: nullableText(),
  min_nodes: z.number().default(0),
  max_nodes: z.number(),
  cooldown: duration(POOL_DEFAULTS.cooldownMs),
  labels: z.record(z.string(), z.string()).default({}),
  // Left out: the pool holds its size (min_nodes, or what `pools scale` set); `{}` takes every default.
  autoscaling: FileAutoscaling.nullable().default(null),
  health: FileHealth.prefault({}),
  price_per_hour: z.number().nullable().default(null),
});

const nameKey = (what: string) =>
  z.string().regex(POOL_NAME, `a ${what} name is lowercase letters, digits and dashes, at most 63, starting and ending with a letter or digit`);

const PoolsFile = z
  .strictObject({
    providers: z.record(nameKey('provider'), FileProvider).default({}),
    pools: z.record(nameKey('pool'), FilePool).default({}),
  })
  .superRefine((f, ctx) => {
    const providerNames = Object.keys(f.providers);
    for (const [name, pool] of Object.entries(f.pools)) {
      const at = (field: string) => ['pools', name, field];
      const provider = f.providers[pool.provider];
      if (!provider) {
        const known = providerNames.length > 0 ? `its providers are ${providerNames.join(', ')}` : 'it defines no providers';
        ctx.addIssue({ code: 'custom', path: at('provider'), message: `'${pool.provider}' is not a provider of this file (${known})` });
      }
      // Whole numbers of at least 0 only: the spec names a fraction or a negative itself, and a comparison with one would only confuse.
      if (Number.isInteger(pool.min_nodes) && Number.isInteger(pool.max_nodes) && pool.max_nodes >= 0 && pool.min_nodes > pool.max_nodes) {
        ctx.addIssue({ code: 'custom', path: at('min_nodes'), message: `${pool.min_nodes} is above max_nodes (${pool.max_nodes})` });
      }
      const label = pool.labels[POOL_LABEL];
      if (label !== undefined && label !== name) {
        ctx.addIssue({
          code: 'custom',
          path: ['pools', name, 'labels', POOL_LABEL],
          message: `'${label}' is not this pool's name: every node of a pool carries ${POOL_LABEL}: ${name} (leave it out)`,
        });
      }
      // Zones of an AWS region start with its name (us-east-1a); a bad region is named by the spec instead.
      if (provider?.type === 'aws' && AwsProviderSpec.shape.region.safeParse(provider.region).success) {
        pool.zones.forEach((zone, i) => {
          // us-east-1a, and local zones such as us-east-1-bos-1a; not us-east-10a.
          if (!zone.startsWith(provider.region) || !/^([a-z]|-[a-z0-9-]+)$/.test(zone.slice(provider.region.length))) {
            ctx.addIssue({
              code: 'custom',
              path: ['pools', name, 'zones', i],
              message: `'${zone}' is not a zone of ${provider.region} (provider ${pool.provider}'s region)`,
            });
          }
        });
      }
    }
  });

// ---- from the file's names to the spec's ----

function providerSpec(p: z.output<typeof FileProvider>): unknown {
  switch (p.type) {
    case 'sim':
      return {
        type: 'sim',
        instanceTypes: Object.fromEntries(
          Object.entries(p.instance_types).map(([k, t]) => [k, { gpuModel: t.gpu_model, gpus: t.gpus, pricePerHour: t.price_per_hour }]),
        ),
        bootMs: p.boot,
        failRate: p.fail_rate,
        seed: p.seed,
      };
    case 'ssh':
      return { type: 'ssh', hostsFile: p.hosts_file };
    case 'lambda':
      return { type: 'lambda', apiKeyEnv: p.api_key_env, endpoint: p.endpoint, sshKeyNames: p.ssh_key_names };
    case 'aws':
      return {
        type: 'aws',
        region: p.region,
        endpoint: p.endpoint,
        imageId: p.image_id,
        subnets: p.subnets,
        securityGroupIds: p.security_group_ids,
        keyName: p.key_name,
        instanceProfile: p.instance_profile,
      };
  }
}

function poolSpec(name: string, p: z.output<typeof FilePool>): unknown {
  const a = p.autoscaling;
  const h = p.health;
  return {
    name,
    provider: p.provider,
    instanceType: p.instance_type,
    zones: p.zones,
    image: p.image,
    minNodes: p.min_nodes,
    maxNodes: p.max_nodes,
    cooldownMs: p.cooldown,
    labels: { ...p.labels, [POOL_LABEL]: name },
    autoscaling: a && {
      pendingAllocations: a.pending_allocations,
      scaleUpAtPct: a.scale_up_at,
      scaleDownAtPct: a.scale_down_at,
      idleForMs: a.idle_for,
      maxStep: a.max_step,
    },
    health: {
      replaceAfterMs: h.replace_after,
      maxParallelReplacements: h.max_parallel_replacements,
      maxUnavailable: h.max_unavailable,
      joinTimeoutMs: h.join_timeout,
    },
    pricePerHour: p.price_per_hour,
  };
}

/** Spec field → file field, for issues the spec finds. */
const FILE_NAMES: Record<string, string> = {
  instanceTypes: 'instance_types',
  gpuModel: 'gpu_model',
  pricePerHour: 'price_per_hour',
  bootMs: 'boot',
  failRate: 'fail_rate',
  hostsFile: 'hosts_file',
  apiKeyEnv: 'api_key_env',
  sshKeyNames: 'ssh_key_names',
  imageId: 'image_id',
  securityGroupIds: 'security_group_ids',
  keyName: 'key_name',
  instanceProfile: 'instance_profile',
  instanceType: 'instance_type',
  minNodes: 'min_nodes',
  maxNodes: 'max_nodes',
  cooldownMs: 'cooldown',
  pendingAllocations: 'pending_allocations',
  scaleUpAtPct: 'scale_up_at',
  scaleDownAtPct: 'scale_down_at',
  idleForMs: 'idle_for',
  maxStep: 'max_step',
  replaceAfterMs: 'replace_after',
  maxParallelReplacements: 'max_parallel_replacements',
  maxUnavailable: 'max_unavailable',
  joinTimeoutMs: 'join_timeout',
};

/** Maps whose keys people choose (names, instance types, zones, label keys): never renamed. */
const NAMED_MAPS = new Set(['instanceTypes', 'subnets', 'labels']);

/** A spec issue's path as the file's field path: `pools.a.health.maxUnavailable.count` is `pools.a.health.max_unavailable`. */
function toFilePath(path: PropertyKey[]): PropertyKey[] {
  const out: PropertyKey[] = [];
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const parent = path[i - 1];
    if (i === 1 || typeof seg !== 'string' || (typeof parent === 'string' && NAMED_MAPS.has(parent) && i === 3)) out.push(seg);
    // `max_unavailable: 10%` is one value in the file: its count or percent is that value.
    else if (parent === 'maxUnavailable') break;
    else out.push(FILE_NAMES[seg] ?? seg);
  }
  return out;
}

// ---- the parser ----

/** Names people reach for from other tools, and what this file calls them. */
const KNOWN_MISNAMES: Record<string, string> = {
  min: 'min_nodes',
  max: 'max_nodes',
  min_size: 'min_nodes',
  max_size: 'max_nodes',
  minimum: 'min_nodes',
  maximum: 'max_nodes',
  machine_type: 'instance_type',
  instance: 'instance_type',
  zone: 'zones',
  availability_zones: 'zones',
  regions: 'zones',
  ami: 'image',
  tags: 'labels',
  node_labels: 'labels',
  price: 'price_per_hour',
  cost: 'price_per_hour',
  hosts: 'hosts_file',
  api_key: 'api_key_env',
  kind: 'type',
  scale_up_threshold: 'scale_up_at',
  scale_down_threshold: 'scale_down_at',
  idle_timeout: 'idle_for',
  unhealthy_after: 'replace_after',
  boot_time: 'boot',
  // Values of enumerations: what a provider is called elsewhere.
  ec2: 'aws',
  lambdalabs: 'lambda',
  lambda_labs: 'lambda',
  simulated: 'sim',
  simulator: 'sim',
  fake: 'sim',
};

/** Label values and seeds written as numbers or booleans (`gen: 5`) are meant as the text written. */
function keepLabelText(doc: Document): void {
  visit(doc, {
    Scalar(key, node, path) {
      if (key !== 'value' || (typeof node.value !== 'number' && typeof node.value !== 'boolean')) return;
      const keys = path.filter(isPair).map((p) => yamlKeyText(p.key));
      if (keys.length === 4 && keys[0] === 'pools' && keys[2] === 'labels') node.value = node.source ?? String(node.value);
    },
  });
}

const POOLS_FILE_FORMAT: YamlFileFormat = {
  noun: 'pools file',
  topFields: 'providers, pools',
  maxBytes: POOLS_FILE_MAX_BYTES,
  schema: PoolsFile,
  misnames: KNOWN_MISNAMES,
  prepare: keepLabelText,
};

/**
 * Parses a pools file into the PoolsConfig the server applies, every default filled in. Throws
 * FleetError('invalid_argument') naming the line, column and field of the first problem (all of
 * them, up to 50, in `details.problems`): YAML syntax, duplicate keys, unknown fields, wrong types,
 * bad units, values out of range, a pool naming a provider the file lacks, min_nodes above
 * max_nodes, a zone outside an AWS provider's region.
 */
export function parsePoolsFile(text: string, opts: PoolsFileOptions = {}): PoolsConfig {
  return readYamlFile(POOLS_FILE_FORMAT, text, opts.file, (data, report) => {
    const proto = protoKeyPath(data);
    if (proto) return report([{ code: 'custom', path: proto as (string | number)[], message: 'not a name a pools file may use', input: undefined }]);
    const read = PoolsFile.safeParse(data);
    if (!read.success) return report(read.error.issues);
    const normalized = {
      providers: Object.fromEntries(Object.entries(read.data.providers).map(([name, p]) => [name, providerSpec(p)])),
      pools: Object.fromEntries(Object.entries(read.data.pools).map(([name, p]) => [name, poolSpec(name, p)])),
    };
    const spec = PoolsConfig.safeParse(withoutUndefined(normalized));
    if (!spec.success) {
      // The file compared min_nodes with max_nodes already; the spec's own comparison only echoes a bad max_nodes.
      const issues = spec.error.issues.filter((i) => !(i.code === 'custom' && i.path.at(-1) === 'minNodes'));
      return report(issues.length > 0 ? issues : spec.error.issues, toFilePath);
    }
    return spec.data;
  });
}

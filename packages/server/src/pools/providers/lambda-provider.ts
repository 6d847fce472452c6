import { createHash } from 'node:crypto';
import type { LambdaProviderSpec } from '@gpufleet/protocol';
import {
  type CloudProvider,
  type InstanceTypeInfo,
  type ProviderContext,
  ProviderError,
  type ProviderInstance,
  type ProvisionRequest,
} from './cloud-provider.js';
import { isObject, LambdaApi } from './lambda-api.js';

/**
 * Lambda Cloud behind the CloudProvider interface. Zones are Lambda region names. Bootstrap goes
 * in the launch's `user_data` (cloud-init, plain text, up to 1 MB per the API docs).
 *
 * Lambda has no idempotency key: each instance is named `gpufleet-<operationId>`, and provision
 * first looks for an instance of that name (a server that crashed mid-launch finds the instance
 * it started instead of starting a second). Lambda has no tags in the API we use, so which pool
 * an instance serves is kept in the provider's state, keyed by instance id.
 */
export interface LambdaProviderOptions {
  /** Per HTTP call; default 30 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

const NAME_PREFIX = 'gpufleet-';
/** The API's limit on instance names. */
const MAX_NAME_CHARS = 64;
const USER_DATA_MAX_BYTES = 1024 * 1024;

/** What the provider keeps per instance it launched (state key `instance:<id>`). */
interface InstanceMemo {
  pool: string;
  operationId: string;
  launchedAt: number;
}

/** The instance name for an operation: readable when it fits, a digest of the id when it does not. */
export function lambdaInstanceName(operationId: string): string {
  if (/^[A-Za-z0-9._-]+$/.test(operationId) && NAME_PREFIX.length + operationId.length <= MAX_NAME_CHARS) return `${NAME_PREFIX}${operationId}`;
  return `${NAME_PREFIX}${createHash('sha256').update(operationId).digest('hex').slice(0, 40)}`;
}

export function createLambdaProvider(spec: LambdaProviderSpec, ctx: ProviderContext, options: LambdaProviderOptions = {}): CloudProvider {
  return new LambdaProvider(spec, ctx, options);
}

class LambdaProvider implements CloudProvider {
  readonly type = 'lambda' as const;
  readonly name: string;
  private readonly api: LambdaApi;

  constructor(
    private readonly spec: LambdaProviderSpec,
    private readonly ctx: ProviderContext,
    options: LambdaProviderOptions,
  ) {
    this.name = ctx.name;
    this.api = new LambdaApi({
      endpoint: spec.endpoint,
      apiKey: () => this.apiKey(),
      timeoutMs: options.timeoutMs ?? 30_000,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  private apiKey(): string {
    const key = this.ctx.env[this.spec.apiKeyEnv];
    if (key === undefined || key.trim() === '') {
      throw new ProviderError('auth', `provider ${this.name}: environment variable ${this.spec.apiKeyEnv} (api_key_env) is not set`, {
        code: 'missing_api_key',
      });
    }
    return key.trim();
  }

  async provision(req: ProvisionRequest): Promise<ProviderInstance> {
    const name = lambdaInstanceName(req.operationId);
    const memo: InstanceMemo = { pool: req.pool, operationId: req.operationId, launchedAt: this.ctx.clock.now() };
    const existing = (await this.fetchInstances()).find((raw) => raw.name === name);
    if (existing) {
      const known = await this.memo(existing.id);
      if (!known) await this.ctx.state.put(memoKey(existing.id), memo);
      return toInstance(existing, known ?? memo, this.ctx.clock.now());
    }
    if (Buffer.byteLength(req.userData) > USER_DATA_MAX_BYTES) {
      throw new ProviderError('invalid', `provider ${this.name}: user data is larger than Lambda's 1 MB`, { code: 'user_data_too_large' });
    }
    const region = req.zone ?? (await this.regionWithCapacity(req.instanceType));
    const data = await this.api.post(
      '/instance-operations/launch',
      {
        region_name: region,
        instance_type_name: req.instanceType,
        ssh_key_names: this.spec.sshKeyNames,
        quantity: 1,
        name,
        user_data: req.userData,
      },
      { region },
    );
    const ids = isObject(data) && Array.isArray(data.instance_ids) ? data.instance_ids : undefined;
    const id = ids?.[0];
    if (typeof id !== 'string' || id === '') {
      throw new ProviderError('transient', `lambda launch: answer has no instance_ids: ${JSON.stringify(data)?.slice(0, 200)}`, { code: 'bad_response' });
    }
    await this.ctx.state.put(memoKey(id), memo);
    return {
      id,
      pool: req.pool,
      operationId: req.operationId,
      instanceType: req.instanceType,
      zone: region,
      state: 'pending',
      address: null,
      launchedAt: memo.launchedAt,
      pricePerHour: null,
    };
  }

  async terminate(instanceId: string): Promise<void> {
    try {
      await this.api.post('/instance-operations/terminate', { instance_ids: [instanceId] });
    } catch (err) {
      if (!(err instanceof ProviderError)) throw err;
      // Gone already is fine; Lambda may answer an unknown id as not found or as a bad parameter,
      // so a bad parameter is checked against the list before it is believed.
      const gone = err.kind === 'not_found' || (err.kind === 'invalid' && !(await this.fetchInstances()).some((raw) => raw.id === instanceId));
      if (!gone) throw err;
    }
    await this.ctx.state.delete(memoKey(instanceId));
  }

  async list(): Promise<ProviderInstance[]> {
    const raws = (await this.fetchInstances()).filter((raw) => raw.name?.startsWith(NAME_PREFIX));
    const memos = new Map<string, InstanceMemo>();
    for (const { key, value } of await this.ctx.state.list()) {
      if (key.startsWith('instance:') && isMemo(value)) memos.set(key.slice('instance:'.length), value);
    }
    const now = this.ctx.clock.now();
    return raws.map((raw) => toInstance(raw, memos.get(raw.id), now));
  }

  async describe(instanceTypes: string[]): Promise<InstanceTypeInfo[]> {
    const offered = await this.fetchInstanceTypes();
    const out: InstanceTypeInfo[] = [];
    for (const wanted of instanceTypes) {
      const entry = offered.get(wanted);
      if (entry) out.push(entry);
    }
    return out;
  }

  async close(): Promise<void> {}

  private async memo(id: string): Promise<InstanceMemo | undefined> {
    const value = await this.ctx.state.get(memoKey(id));
    return isMemo(value) ? value : undefined;
  }

  private async regionWithCapacity(instanceType: string): Promise<string> {
    const info = (await this.fetchInstanceTypes()).get(instanceType);
    if (!info) throw new ProviderError('invalid', `lambda: instance type ${instanceType} is not offered`, { code: 'unknown_instance_type' });
    const region = info.zonesWithCapacity?.[0];
    if (!region) throw new ProviderError('capacity', `lambda: no region has capacity for ${instanceType} now`, { code: 'no_region_with_capacity' });
    return region;
  }

  /** GET /instances, checked field by field: a malformed entry is an error, not a crash later. */
  private async fetchInstances(): Promise<RawInstance[]> {
    const data = await this.api.get('/instances');
    if (!Array.isArray(data)) throw badAnswer('GET /instances', 'data is not a list');
    return data.map((item, i) => parseInstance(item, i));
  }

  private async fetchInstanceTypes(): Promise<Map<string, InstanceTypeInfo>> {
    const data = await this.api.get('/instance-types');
    if (!isObject(data)) throw badAnswer('GET /instance-types', 'data is not an object of instance types');
    const out = new Map<string, InstanceTypeInfo>();
    for (const [key, value] of Object.entries(data)) {
      const type = isObject(value) && isObject(value.instance_type) ? value.instance_type : undefined;
      if (!type) throw badAnswer('GET /instance-types', `${key}: no instance_type`);
      const regions = isObject(value) && Array.isArray(value.regions_with_capacity_available) ? value.regions_with_capacity_available : undefined;
      if (!regions) throw badAnswer('GET /instance-types', `${key}: no regions_with_capacity_available list`);
      const name = typeof type.name === 'string' ? type.name : key;
      const cents = type.price_cents_per_hour;
      const specs = isObject(type.specs) ? type.specs : {};
      out.set(name, {
        instanceType: name,
        gpus: typeof specs.gpus === 'number' ? specs.gpus : gpusFromName(name),
        gpuModel: typeof type.gpu_description === 'string' ? type.gpu_description : null,
        pricePerHour: typeof cents === 'number' && cents >= 0 ? cents / 100 : null,
        zonesWithCapacity: regions.flatMap((r) => (isObject(r) && typeof r.name === 'string' ? [r.name] : [])),
      });
    }
    return out;
  }
}

/** The fields of a Lambda instance we use (the docs require id and status). */
interface RawInstance {
  id: string;
  name: string | null;
  status: string;
  ip: string | null;
  region: string | null;
  instanceType: string | null;
  priceCents: number | null;
}

function parseInstance(item: unknown, index: number): RawInstance {
  if (!isObject(item)) throw badAnswer('GET /instances', `entry ${index} is not an object`);
  if (typeof item.id !== 'string' || item.id === '') throw badAnswer('GET /instances', `entry ${index} has no id`);
  if (typeof item.status !== 'string') throw badAnswer('GET /instances', `instance ${item.id} has no status`);
  const type = isObject(item.instance_type) ? item.instance_type : undefined;
  return {
    id: item.id,
    name: typeof item.name === 'string' ? item.name : null,
    status: item.status,
    ip: typeof item.ip === 'string' && item.ip !== '' ? item.ip : null,
    region: isObject(item.region) && typeof item.region.name === 'string' ? item.region.name : null,
    instanceType: type && typeof type.name === 'string' ? type.name : null,
    priceCents: type && typeof type.price_cents_per_hour === 'number' ? type.price_cents_per_hour : null,
  };
}

function toInstance(raw: RawInstance, memo: InstanceMemo | undefined, now: number): ProviderInstance {
  const fromName = raw.name?.startsWith(NAME_PREFIX) ? raw.name.slice(NAME_PREFIX.length) : null;
  return {
    id: raw.id,
    pool: memo?.pool ?? null,
    operationId: memo?.operationId ?? fromName,
    instanceType: raw.instanceType ?? 'unknown',
    zone: raw.region,
    state: lambdaState(raw.status),
    address: raw.ip,
    launchedAt: memo?.launchedAt ?? now,
    pricePerHour: raw.priceCents === null ? null : raw.priceCents / 100,
  };
}

/** Lambda statuses: booting, active, unhealthy, terminating, terminated, preempted. */
export function lambdaState(status: string): ProviderInstance['state'] {
  switch (status) {
    case 'active':
    case 'unhealthy':
      return 'running';
    case 'terminating':
      return 'stopping';
    case 'terminated':
    case 'preempted':
      return 'terminated';
    default:
      return 'pending';
  }
}

/** `gpu_8x_h100_sxm5` → 8; types without the pattern report 1. */
function gpusFromName(name: string): number {
  const m = /^gpu_(\d+)x_/.exec(name);
  return m ? Number(m[1]) : 1;
}

function memoKey(id: string): string {
  return `instance:${id}`;
}

function isMemo(v: unknown): v is InstanceMemo {
  return isObject(v) && typeof v.pool === 'string' && typeof v.operationId === 'string' && typeof v.launchedAt === 'number';
}

function badAnswer(what: string, why: string): ProviderError {
  return new ProviderError('transient', `lambda ${what}: answer is not as documented: ${why}`, { code: 'bad_response' });
}

import { createHash } from 'node:crypto';
import {
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  type DescribeInstanceTypesCommandInput,
  EC2Client,
  type Instance,
  type InstanceTypeInfo as Ec2InstanceTypeInfo,
  type RunInstancesCommandInput,
  RunInstancesCommand,
  type Tag,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { AwsProviderSpec } from '@gpufleet/protocol';
import { providerErrorFromAws } from './aws-errors.js';
import {
  type CloudProvider,
  type InstanceTypeInfo,
  type ProviderContext,
  ProviderError,
  type ProviderInstance,
  type ProvisionRequest,
} from './cloud-provider.js';

/**
 * AWS EC2 behind the CloudProvider interface, through @aws-sdk/client-ec2.
 *
 * - provision: RunInstances with ClientToken = the operation id, so EC2 itself returns the first
 *   instance when a crashed server asks again; tagged gpufleet:pool / gpufleet:operation / Name
 *   and the pool's labels; the zone's subnet from the spec, else Placement.AvailabilityZone.
 * - list: DescribeInstances filtered on the tag key gpufleet:pool, every page.
 * - terminate: TerminateInstances; an id EC2 does not know is already gone.
 * - describe: DescribeInstanceTypes (GPU count and name). EC2 has no prices and does not say
 *   where capacity is, so both are null (a pool sets price_per_hour).
 *
 * The SDK makes one attempt per call: retries are the pool manager's (withProviderRetry), so a
 * throttled call is not retried twice over.
 */
export interface AwsProviderOptions {
  /** Credentials to use instead of ctx.env and the default chain (tests). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Per HTTP call; default 30 s. */
  requestTimeoutMs?: number;
}

export const TAG_POOL = 'gpufleet:pool';
export const TAG_OPERATION = 'gpufleet:operation';
/** EC2's limits: user data 16 KB before base64; client tokens 64 ASCII characters; 50 tags per resource. */
const USER_DATA_MAX_BYTES = 16 * 1024;
const CLIENT_TOKEN_MAX = 64;
const MAX_LABEL_TAGS = 40;
const LIST_PAGE_SIZE = 500;
const MAX_PAGES = 1000;

export function createAwsProvider(spec: AwsProviderSpec, ctx: ProviderContext, options: AwsProviderOptions = {}): CloudProvider {
  return new AwsProvider(spec, ctx, options);
}

/** The ClientToken for an operation: the id itself when EC2 accepts it, else a digest of it. */
export function ec2ClientToken(operationId: string): string {
  if (/^[\x21-\x7e]+$/.test(operationId) && operationId.length <= CLIENT_TOKEN_MAX) return operationId;
  return createHash('sha256').update(operationId).digest('hex').slice(0, CLIENT_TOKEN_MAX);
}

class AwsProvider implements CloudProvider {
  readonly type = 'aws' as const;
  readonly name: string;
  private readonly client: EC2Client;

  constructor(
    private readonly spec: AwsProviderSpec,
    private readonly ctx: ProviderContext,
    options: AwsProviderOptions,
  ) {
    this.name = ctx.name;
    const timeout = options.requestTimeoutMs ?? 30_000;
    const credentials = options.credentials ?? staticCredentials(ctx.env);
    this.client = new EC2Client({
      region: spec.region,
      ...(spec.endpoint ? { endpoint: spec.endpoint } : {}),
      // Left out: the SDK's default chain (environment, shared files, SSO, instance role).
      ...(credentials ? { credentials } : {}),
      maxAttempts: 1,
      requestHandler: { connectionTimeout: timeout, requestTimeout: timeout, throwOnRequestTimeout: true },
    });
  }

  async provision(req: ProvisionRequest): Promise<ProviderInstance> {
    const imageId = req.image ?? this.spec.imageId;
    if (!imageId) {
      throw new ProviderError('invalid', `provider ${this.name}: no AMI to launch: set image on the pool or imageId on the provider`, { code: 'no_image' });
    }
    if (Buffer.byteLength(req.userData) > USER_DATA_MAX_BYTES) {
      throw new ProviderError('invalid', `provider ${this.name}: user data is larger than EC2's 16 KB`, { code: 'user_data_too_large' });
    }
    const subnetId = req.zone ? this.spec.subnets[req.zone] : undefined;
    const input: RunInstancesCommandInput = {
      ClientToken: ec2ClientToken(req.operationId),
      ImageId: imageId,
      InstanceType: req.instanceType as RunInstancesCommandInput['InstanceType'],
      MinCount: 1,
      MaxCount: 1,
      UserData: Buffer.from(req.userData, 'utf8').toString('base64'),
      TagSpecifications: [
        { ResourceType: 'instance', Tags: this.tags(req) },
        {
          ResourceType: 'volume',
          Tags: [
            { Key: TAG_POOL, Value: req.pool },
            { Key: TAG_OPERATION, Value: req.operationId },
          ],
        },
      ],
      ...(subnetId ? { SubnetId: subnetId } : req.zone ? { Placement: { AvailabilityZone: req.zone } } : {}),
      ...(this.spec.securityGroupIds.length > 0 ? { SecurityGroupIds: this.spec.securityGroupIds } : {}),
      ...(this.spec.keyName ? { KeyName: this.spec.keyName } : {}),
      ...(this.spec.instanceProfile
        ? { IamInstanceProfile: this.spec.instanceProfile.startsWith('arn:') ? { Arn: this.spec.instanceProfile } : { Name: this.spec.instanceProfile } }
        : {}),
    };
    const out = await this.send('RunInstances', req.zone, () => this.client.send(new RunInstancesCommand(input)));
    const instance = out.Instances?.[0];
    if (!instance?.InstanceId) throw badAnswer('RunInstances', 'no instance in the answer');
    return toInstance(instance, this.ctx.clock.now(), { pool: req.pool, operationId: req.operationId, zone: req.zone });
  }

  async terminate(instanceId: string): Promise<void> {
    try {
      await this.send('TerminateInstances', null, () => this.client.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })));
    } catch (err) {
      if (err instanceof ProviderError && (err.kind === 'not_found' || err.details.code === 'InvalidInstanceID.NotFound')) return;
      throw err;
    }
  }

  async list(): Promise<ProviderInstance[]> {
    const out: ProviderInstance[] = [];
    const seenTokens = new Set<string>();
    let nextToken: string | undefined;
    const now = this.ctx.clock.now();
    for (let page = 0; page < MAX_PAGES; page++) {
      const res = await this.send('DescribeInstances', null, () =>
        this.client.send(
          new DescribeInstancesCommand({
            Filters: [{ Name: 'tag-key', Values: [TAG_POOL] }],
            MaxResults: LIST_PAGE_SIZE,
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
        ),
      );
      for (const reservation of res.Reservations ?? []) {
        for (const instance of reservation.Instances ?? []) {
          if (!instance.InstanceId) throw badAnswer('DescribeInstances', 'an instance without instanceId');
          out.push(toInstance(instance, now));
        }
      }
      nextToken = res.NextToken || undefined;
      if (!nextToken) return out;
      // A token seen before would page for ever.
      if (seenTokens.has(nextToken)) throw badAnswer('DescribeInstances', `nextToken ${nextToken} repeats`);
      seenTokens.add(nextToken);
    }
    throw badAnswer('DescribeInstances', `more than ${MAX_PAGES} pages`);
  }

  async describe(instanceTypes: string[]): Promise<InstanceTypeInfo[]> {
    const wanted = [...new Set(instanceTypes)];
    if (wanted.length === 0) return [];
    let infos: Ec2InstanceTypeInfo[];
    try {
      infos = await this.describeTypes(wanted);
    } catch (err) {
      // EC2 refuses the whole call when one name is unknown: ask one by one and leave the unknown out.
      if (!isUnknownType(err)) throw err;
      infos = [];
      for (const type of wanted) {
        try {
          infos.push(...(await this.describeTypes([type])));
        } catch (one) {
          if (!isUnknownType(one)) throw one;
        }
      }
    }
    const byName = new Map(infos.map((i) => [i.InstanceType as string, i]));
    return wanted.flatMap((type) => {
      const info = byName.get(type);
      if (!info) return [];
      const gpus = info.GpuInfo?.Gpus ?? [];
      return [
        {
          instanceType: type,
          gpus: gpus.reduce((n, g) => n + (g.Count ?? 0), 0),
          gpuModel: gpus[0]?.Name ?? null,
          pricePerHour: null,
          zonesWithCapacity: null,
        },
      ];
    });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private async describeTypes(types: string[]): Promise<Ec2InstanceTypeInfo[]> {
    const out: Ec2InstanceTypeInfo[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const res = await this.send('DescribeInstanceTypes', null, () =>
        this.client.send(
          new DescribeInstanceTypesCommand({
            InstanceTypes: types as NonNullable<DescribeInstanceTypesCommandInput['InstanceTypes']>,
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
        ),
      );
      if (!Array.isArray(res.InstanceTypes)) throw badAnswer('DescribeInstanceTypes', 'no instanceTypeSet in the answer');
      out.push(...res.InstanceTypes);
      if (!res.NextToken || res.NextToken === nextToken) return out;
      nextToken = res.NextToken;
    }
    throw badAnswer('DescribeInstanceTypes', `more than ${MAX_PAGES} pages`);
  }

  private tags(req: ProvisionRequest): Tag[] {
    const tags: Tag[] = [
      { Key: TAG_POOL, Value: req.pool },
      { Key: TAG_OPERATION, Value: req.operationId },
      { Key: 'Name', Value: `gpufleet-${req.pool}` },
    ];
    // The pool's labels too, except keys AWS reserves (aws:) or we set ourselves.
    for (const [key, value] of Object.entries(req.labels).slice(0, MAX_LABEL_TAGS)) {
      if (key.startsWith('aws:') || key.startsWith('gpufleet:') || key === 'Name' || key.length > 128) continue;
      tags.push({ Key: key, Value: value });
    }
    return tags;
  }

  /** Runs one SDK call and maps what it throws; a call that resolves to nothing is a bad answer. */
  private async send<T>(action: string, zone: string | null, call: () => Promise<T>): Promise<T> {
    let out: T;
    try {
      out = await call();
    } catch (err) {
      throw providerErrorFromAws(err, { action, zone });
    }
    if (out === undefined || out === null) throw badAnswer(action, 'empty answer');
    return out;
  }
}

function staticCredentials(env: Record<string, string | undefined>): AwsProviderOptions['credentials'] {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
}

function toInstance(instance: Instance, now: number, asked?: { pool: string; operationId: string; zone: string | null }): ProviderInstance {
  const tag = (key: string) => instance.Tags?.find((t) => t.Key === key)?.Value ?? null;
  return {
    id: instance.InstanceId!,
    pool: tag(TAG_POOL) ?? asked?.pool ?? null,
    operationId: tag(TAG_OPERATION) ?? asked?.operationId ?? null,
    instanceType: instance.InstanceType ?? 'unknown',
    zone: instance.Placement?.AvailabilityZone ?? asked?.zone ?? null,
    state: ec2State(instance.State?.Name),
    address: instance.PublicIpAddress ?? instance.PrivateIpAddress ?? null,
    launchedAt: instance.LaunchTime instanceof Date && !Number.isNaN(instance.LaunchTime.getTime()) ? instance.LaunchTime.getTime() : now,
    pricePerHour: null,
  };
}

/** EC2 states: pending, running, shutting-down, terminated, stopping, stopped. */
export function ec2State(name: string | undefined): ProviderInstance['state'] {
  switch (name) {
    case 'running':
      return 'running';
    case 'shutting-down':
    case 'stopping':
    case 'stopped':
      return 'stopping';
    case 'terminated':
      return 'terminated';
    default:
      return 'pending';
  }
}

function isUnknownType(err: unknown): boolean {
  return err instanceof ProviderError && err.details.code === 'InvalidInstanceType';
}

function badAnswer(action: string, why: string): ProviderError {
  return new ProviderError('transient', `aws ${action}: answer is not as documented: ${why}`, { code: 'bad_response' });
}

import type { AwsProviderSpec } from '@gpufleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAKE_AMI, FAKE_SUBNETS, FakeEc2Endpoint } from './__tests__/fake-ec2-endpoint.js';
import { memoryProviderContext } from './__tests__/memory-provider-context.js';
import { createAwsProvider, ec2ClientToken, ec2State } from './aws-provider.js';
import { type CloudProvider, ProviderError, type ProvisionRequest } from './cloud-provider.js';
import { withProviderRetry } from './provider-retry.js';

let fake: FakeEc2Endpoint;
let provider: CloudProvider;
const open: CloudProvider[] = [];

function spec(over: Partial<AwsProviderSpec> = {}): AwsProviderSpec {
  return {
    type: 'aws',
    region: 'us-east-1',
    endpoint: fake.url,
    imageId: FAKE_AMI,
    subnets: { 'us-east-1a': FAKE_SUBNETS['us-east-1a']! },
    securityGroupIds: ['sg-0123456789abcdef0'],
    keyName: 'fleet-key',
    instanceProfile: 'gpufleet-node',
    ...over,
  };
}

/** Every provider in these tests talks to the fake, never to AWS: the endpoint is always set and credentials are static. */
function make(over: Partial<AwsProviderSpec> = {}, env: Record<string, string> = {}, requestTimeoutMs = 3000): CloudProvider {
  const s = spec(over);
  expect(s.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:/);
  const ctx = memoryProviderContext({ name: 'aws', env: { AWS_ACCESS_KEY_ID: fake.accessKeyId, AWS_SECRET_ACCESS_KEY: fake.secretAccessKey, ...env } });
  const p = createAwsProvider(s, ctx, { requestTimeoutMs });
  open.push(p);
  return p;
}

function request(over: Partial<ProvisionRequest> = {}): ProvisionRequest {
  return {
    operationId: 'op-1',
    pool: 'training',
    instanceType: 'p5.48xlarge',
    zone: 'us-east-1a',
    image: null,
    joinToken: 'gfj_token',
    userData: '#!/bin/bash\necho "join"\n',
    labels: { pool: 'training', team: 'vision' },
    ...over,
  };
}

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ProviderError)) throw new Error(`expected a ProviderError, got ${String(err)}`);
  return err;
}

beforeEach(async () => {
  fake = await new FakeEc2Endpoint().start();
  provider = make();
});
afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
  await fake.close();
});

describe('aws provider: provision', () => {
  it('runs one instance with the client token, base64 user data, tags, subnet, groups, key and profile', async () => {
    const inst = await provider.provision(request());
    expect(fake.runRequests).toHaveLength(1);
    const p = fake.runRequests[0]!;
    expect(p).toMatchObject({
      ClientToken: 'op-1',
      ImageId: FAKE_AMI,
      InstanceType: 'p5.48xlarge',
      MinCount: '1',
      MaxCount: '1',
      SubnetId: FAKE_SUBNETS['us-east-1a'],
      'SecurityGroupId.1': 'sg-0123456789abcdef0',
      KeyName: 'fleet-key',
      'IamInstanceProfile.Name': 'gpufleet-node',
    });
    expect(p['Placement.AvailabilityZone']).toBeUndefined();
    expect(Buffer.from(p.UserData!, 'base64').toString()).toBe('#!/bin/bash\necho "join"\n');
    const stored = [...fake.instances.values()][0]!;
    expect(stored.tags).toEqual([
      { key: 'gpufleet:pool', value: 'training' },
      { key: 'gpufleet:operation', value: 'op-1' },
      { key: 'Name', value: 'gpufleet-training' },
      { key: 'pool', value: 'training' },
      { key: 'team', value: 'vision' },
    ]);
    expect(inst).toEqual({
      id: stored.instanceId,
      pool: 'training',
      operationId: 'op-1',
      instanceType: 'p5.48xlarge',
      zone: 'us-east-1a',
      state: 'pending',
      address: stored.privateIp,
      launchedAt: Date.parse(stored.launchTime),
      pricePerHour: null,
    });
  });

  it('a zone without a subnet in the spec goes in Placement.AvailabilityZone; an ARN profile goes as Arn', async () => {
    const p = make({ instanceProfile: 'arn:aws:iam::123456789012:instance-profile/gpufleet' });
    const inst = await p.provision(request({ zone: 'us-east-1c' }));
    expect(fake.runRequests[0]).toMatchObject({
      'Placement.AvailabilityZone': 'us-east-1c',
      'IamInstanceProfile.Arn': 'arn:aws:iam::123456789012:instance-profile/gpufleet',
    });
    expect(fake.runRequests[0]?.SubnetId).toBeUndefined();
    expect(inst.zone).toBe('us-east-1c');
  });

  it("the pool's image wins over the provider's", async () => {
    const err = await failure(provider.provision(request({ image: 'ami-0000000000000beef' })));
    expect(err).toMatchObject({ kind: 'invalid', details: { code: 'InvalidAMIID.NotFound', status: 400 } });
  });

  it('no image anywhere is invalid before calling EC2', async () => {
    const err = await failure(make({ imageId: null }).provision(request()));
    expect(err.kind).toBe('invalid');
    expect(err.message).toContain('no AMI');
    expect(fake.actions).toEqual([]);
  });

  it('asking again with the same operation id returns the same instance and starts no second one', async () => {
    const first = await provider.provision(request());
    const again = await make().provision(request());
    expect(again.id).toBe(first.id);
    expect(fake.instances.size).toBe(1);
    expect(fake.runRequests.map((r) => r.ClientToken)).toEqual(['op-1', 'op-1']);
  });

  it('an operation id EC2 would not take as a token is hashed, stably', () => {
    const long = `op-${'z'.repeat(100)}`;
    expect(ec2ClientToken(long)).toHaveLength(64);
    expect(ec2ClientToken(long)).toBe(ec2ClientToken(long));
    expect(ec2ClientToken('with space')).not.toContain(' ');
    expect(ec2ClientToken('op-1')).toBe('op-1');
  });

  it('user data over 16 KB is refused before calling EC2', async () => {
    const err = await failure(provider.provision(request({ userData: 'x'.repeat(16 * 1024 + 1) })));
    expect(err.kind).toBe('invalid');
    expect(fake.actions).toEqual([]);
  });
});

describe('aws provider: errors', () => {
  it('insufficient capacity in one zone is a capacity error naming the zone; another zone works', async () => {
    fake.noCapacityZones.add('us-east-1a');
    const err = await failure(provider.provision(request({ zone: 'us-east-1a' })));
    expect(err.kind).toBe('capacity');
    expect(err.details).toMatchObject({ zone: 'us-east-1a', code: 'InsufficientInstanceCapacity', status: 500 });
    expect(err.message).toContain('do not have sufficient p5.48xlarge capacity');
    const inst = await provider.provision(request({ operationId: 'op-2', zone: 'us-east-1b' }));
    expect(inst.zone).toBe('us-east-1b');
  });

  it('a type not offered in the zone (Unsupported) is capacity for that zone', async () => {
    fake.unsupportedZones.add('us-east-1c');
    const err = await failure(provider.provision(request({ zone: 'us-east-1c' })));
    expect(err).toMatchObject({ kind: 'capacity', details: { zone: 'us-east-1c', code: 'Unsupported' } });
  });

  it('the vCPU limit is a quota error', async () => {
    fake.vcpuLimit = 200;
    await provider.provision(request());
    const err = await failure(provider.provision(request({ operationId: 'op-2' })));
    expect(err).toMatchObject({ kind: 'quota', details: { code: 'VcpuLimitExceeded' } });
  });

  it('wrong credentials are an auth error', async () => {
    const p = make({}, { AWS_ACCESS_KEY_ID: 'AKIAWRONGWRONGWRONG0' });
    const err = await failure(p.list());
    expect(err).toMatchObject({ kind: 'auth', details: { code: 'AuthFailure', status: 401 } });
  });

  it('an unknown subnet and a malformed AMI are invalid', async () => {
    const a = await failure(make({ subnets: { 'us-east-1a': 'subnet-00000000000000000' } }).provision(request()));
    expect(a).toMatchObject({ kind: 'invalid', details: { code: 'InvalidSubnetID.NotFound' } });
    const b = await failure(provider.provision(request({ image: 'ami-NOTHEX' })));
    expect(b).toMatchObject({ kind: 'invalid', details: { code: 'InvalidAMIID.Malformed' } });
  });

  it('throttling is transient, and retried by our policy alone it then succeeds with one instance', async () => {
    fake.throttleNext = 1;
    const err = await failure(provider.provision(request()));
    expect(err).toMatchObject({ kind: 'transient', details: { code: 'RequestLimitExceeded', status: 503 } });
    // The SDK made exactly one attempt: our retry policy is the only one.
    expect(fake.actions).toEqual(['RunInstances']);

    fake.throttleNext = 2;
    const waits: number[] = [];
    const inst = await withProviderRetry(() => provider.provision(request()), {
      attempts: 4,
      baseMs: 10,
      maxMs: 100,
      sleep: async (ms) => void waits.push(ms),
    });
    expect(waits).toHaveLength(2);
    expect(inst.operationId).toBe('op-1');
    expect(fake.instances.size).toBe(1);
  });

  it('a slow answer times out as transient, and the retry with the same token finds the instance', async () => {
    const p = make({}, {}, 200);
    fake.delays.set('RunInstances', 1000);
    const started = Date.now();
    const err = await failure(p.provision(request()));
    expect(err).toMatchObject({ kind: 'transient', details: { code: 'timeout' } });
    expect(Date.now() - started).toBeLessThan(900);
    // The slow call went through on EC2's side; asking again must not start a second instance.
    await new Promise((r) => setTimeout(r, 1000));
    fake.delays.clear();
    const inst = await p.provision(request());
    expect(fake.instances.size).toBe(1);
    expect(inst.id).toBe([...fake.instances.keys()][0]);
  });

  it('a closed port is transient', async () => {
    const p = make();
    await fake.close();
    const err = await failure(p.list());
    expect(err.kind).toBe('transient');
  });

  it('no credentials anywhere is an auth error naming the chain', async () => {
    const saved = { ...process.env };
    // The default chain reads process.env and ~/.aws; point both at nothing, and keep it off the network (IMDS).
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
    process.env.AWS_CONFIG_FILE = '/nonexistent/config';
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    try {
      const p = createAwsProvider(spec(), memoryProviderContext({ env: {} }));
      open.push(p);
      const err = await failure(p.list());
      expect(err.kind).toBe('auth');
      expect(err.message).toMatch(/credentials/i);
      expect(fake.actions).toEqual([]);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});

describe('aws provider: list, terminate, describe', () => {
  it('lists only instances tagged with a pool, with pool and operation from the tags', async () => {
    for (let i = 0; i < 7; i++) await provider.provision(request({ operationId: `op-${i}`, pool: i % 2 ? 'a' : 'b' }));
    // An instance someone else started, without our tag, is not ours.
    fake.instances.set('i-0000000000000000f', {
      ...[...fake.instances.values()][0]!,
      instanceId: 'i-0000000000000000f',
      tags: [{ key: 'Name', value: 'web' }],
      clientToken: null,
    });
    const p = createAwsProvider(spec(), memoryProviderContext({ env: { AWS_ACCESS_KEY_ID: fake.accessKeyId, AWS_SECRET_ACCESS_KEY: fake.secretAccessKey } }));
    open.push(p);
    const listed = await p.list();
    expect(listed.map((i) => i.operationId).sort()).toEqual(['op-0', 'op-1', 'op-2', 'op-3', 'op-4', 'op-5', 'op-6']);
    expect(listed.find((i) => i.operationId === 'op-1')?.pool).toBe('a');
    expect(fake.actions.filter((a) => a === 'DescribeInstances')).toHaveLength(1);
  });

  it('follows nextToken across pages', async () => {
    for (let i = 0; i < 3; i++) await provider.provision(request({ operationId: `op-${i}` }));
    // The first page is answered by hand with a nextToken; the fake then answers the rest.
    const page1 = `<?xml version="1.0" encoding="UTF-8"?><DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>1</requestId><reservationSet><item><reservationId>r-1</reservationId><instancesSet><item><instanceId>i-0aaaaaaaaaaaaaaaa</instanceId><instanceType>g5.xlarge</instanceType><instanceState><code>16</code><name>running</name></instanceState><placement><availabilityZone>us-east-1b</availabilityZone></placement><ipAddress>54.0.0.1</ipAddress><tagSet><item><key>gpufleet:pool</key><value>p</value></item></tagSet></item></instancesSet></item></reservationSet><nextToken>MA==</nextToken></DescribeInstancesResponse>`;
    fake.answerNext('DescribeInstances', 200, page1);
    const listed = await provider.list();
    expect(listed).toHaveLength(4);
    expect(listed[0]).toMatchObject({ id: 'i-0aaaaaaaaaaaaaaaa', state: 'running', address: '54.0.0.1', zone: 'us-east-1b', pool: 'p', operationId: null });
    expect(fake.actions.filter((a) => a === 'DescribeInstances')).toHaveLength(2);
  });

  it('terminates an instance; an unknown instance is fine', async () => {
    const inst = await provider.provision(request());
    await provider.terminate(inst.id);
    expect(fake.instances.get(inst.id)?.state).toBe('terminated');
    expect((await provider.list()).find((i) => i.id === inst.id)?.state).toBe('terminated');
    await expect(provider.terminate('i-0123456789abcdef0')).resolves.toBeUndefined();
  });

  it('terminate still fails on other errors', async () => {
    fake.throttleNext = 1;
    const err = await failure(provider.terminate('i-0123456789abcdef0'));
    expect(err.kind).toBe('transient');
  });

  it('describes GPU count and model, no price or capacity; unknown types are left out', async () => {
    const info = await provider.describe(['p5.48xlarge', 'x9.nonsense', 'g5.xlarge', 'm5.large']);
    expect(info).toEqual([
      { instanceType: 'p5.48xlarge', gpus: 8, gpuModel: 'H100', pricePerHour: null, zonesWithCapacity: null },
      { instanceType: 'g5.xlarge', gpus: 1, gpuModel: 'A10G', pricePerHour: null, zonesWithCapacity: null },
      { instanceType: 'm5.large', gpus: 0, gpuModel: null, pricePerHour: null, zonesWithCapacity: null },
    ]);
    expect(await provider.describe(['x9.nonsense'])).toEqual([]);
    expect(await provider.describe([])).toEqual([]);
  });

  it('maps EC2 states', () => {
    expect(['pending', 'running', 'shutting-down', 'stopping', 'stopped', 'terminated', undefined].map(ec2State)).toEqual([
      'pending',
      'running',
      'stopping',
      'stopping',
      'stopping',
      'terminated',
      'pending',
    ]);
  });
});

describe('aws provider: garbage answers are clear errors, never crashes', () => {
  const cases: Array<[string, string, number, string]> = [
    ['not XML', 'DescribeInstances', 200, 'this is not xml at all'],
    ['HTML from a proxy', 'RunInstances', 200, '<html><body>Welcome to nginx</body></html>'],
    ['truncated XML', 'DescribeInstances', 200, '<?xml version="1.0"?><DescribeInstancesResponse><reservationSet><item>'],
    ['an empty body', 'RunInstances', 200, ''],
    ['a 502 with HTML', 'RunInstances', 502, '<html>Bad Gateway</html>'],
    ['an error without a code', 'DescribeInstanceTypes', 400, '<Response><Errors><Error><Message>odd</Message></Error></Errors></Response>'],
    [
      'an instance without an id',
      'DescribeInstances',
      200,
      '<DescribeInstancesResponse><reservationSet><item><instancesSet><item><instanceType>g5.xlarge</instanceType></item></instancesSet></item></reservationSet></DescribeInstancesResponse>',
    ],
  ];
  it.each(cases)('%s', async (_name, action, status, body) => {
    fake.answerNext(action, status, body);
    const call =
      action === 'RunInstances' ? provider.provision(request()) : action === 'DescribeInstances' ? provider.list() : provider.describe(['g5.xlarge']);
    const err = await failure(call);
    expect(err.kind).toBe(status === 400 ? 'invalid' : 'transient');
    expect(err.details.code).toBe('bad_response');
    expect(err.message).toMatch(/^aws (RunInstances|DescribeInstances|DescribeInstanceTypes): (answer is not as documented|HTTP \d+ with an error answer)/);
  });
});

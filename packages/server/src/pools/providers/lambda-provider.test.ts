import type { LambdaProviderSpec } from '@gpufleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DOCUMENTED_ERRORS, FakeLambdaEndpoint } from './__tests__/fake-lambda-endpoint.js';
import { memoryProviderContext } from './__tests__/memory-provider-context.js';
import { type CloudProvider, ProviderError, type ProvisionRequest } from './cloud-provider.js';
import { createLambdaProvider, lambdaInstanceName, lambdaState } from './lambda-provider.js';
import { withProviderRetry } from './provider-retry.js';

let fake: FakeLambdaEndpoint;
let provider: CloudProvider;
let ctx: ReturnType<typeof memoryProviderContext>;

function spec(over: Partial<LambdaProviderSpec> = {}): LambdaProviderSpec {
  return { type: 'lambda', apiKeyEnv: 'LAMBDA_API_KEY', endpoint: fake.url, sshKeyNames: ['fleet-key'], ...over };
}

function request(over: Partial<ProvisionRequest> = {}): ProvisionRequest {
  return {
    operationId: 'op-1',
    pool: 'training',
    instanceType: 'gpu_1x_a100_sxm4',
    zone: 'us-east-1',
    image: null,
    joinToken: 'gfj_token',
    userData: '#!/bin/bash\necho join\n',
    labels: { pool: 'training' },
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
  fake = await new FakeLambdaEndpoint().start();
  ctx = memoryProviderContext({ name: 'lambda', env: { LAMBDA_API_KEY: fake.apiKey } });
  provider = createLambdaProvider(spec(), ctx, { timeoutMs: 2000 });
});
afterEach(async () => {
  await provider.close();
  await fake.close();
});

describe('lambda provider: credentials', () => {
  it('refuses with auth naming the variable when the API key is not set, without calling Lambda', async () => {
    const p = createLambdaProvider(spec(), memoryProviderContext({ env: {} }));
    const err = await failure(p.list());
    expect(err.kind).toBe('auth');
    expect(err.message).toContain('LAMBDA_API_KEY');
    expect(fake.requests).toEqual([]);
  });

  it('maps the documented invalid-api-key answer to auth', async () => {
    const p = createLambdaProvider(spec(), memoryProviderContext({ env: { LAMBDA_API_KEY: 'wrong' } }));
    const err = await failure(p.provision(request()));
    expect(err.kind).toBe('auth');
    expect(err.details).toMatchObject({ status: 401, code: 'global/invalid-api-key' });
    expect(err.message).toContain('API key was invalid');
    expect(fake.launches).toEqual([]);
  });
});

describe('lambda provider: describe', () => {
  it('reports GPUs, price in $/h and regions with capacity; unknown types are left out', async () => {
    const info = await provider.describe(['gpu_8x_h100_sxm5', 'gpu_1x_nope', 'gpu_1x_a100_sxm4']);
    expect(info).toEqual([
      { instanceType: 'gpu_8x_h100_sxm5', gpus: 8, gpuModel: 'H100 (80 GB SXM5)', pricePerHour: 23.92, zonesWithCapacity: ['us-tx-3'] },
      { instanceType: 'gpu_1x_a100_sxm4', gpus: 1, gpuModel: 'A100 (40 GB SXM4)', pricePerHour: 1.29, zonesWithCapacity: ['us-east-1', 'us-west-1'] },
    ]);
  });
});

describe('lambda provider: provision', () => {
  it('launches one named instance with the user data and ssh keys, and lists it with its pool', async () => {
    const inst = await provider.provision(request());
    expect(fake.launches).toEqual([
      {
        region_name: 'us-east-1',
        instance_type_name: 'gpu_1x_a100_sxm4',
        ssh_key_names: ['fleet-key'],
        quantity: 1,
        name: 'gpufleet-op-1',
        user_data: '#!/bin/bash\necho join\n',
      },
    ]);
    expect(inst).toMatchObject({ pool: 'training', operationId: 'op-1', instanceType: 'gpu_1x_a100_sxm4', zone: 'us-east-1', state: 'pending' });
    expect(fake.instances.get(inst.id)?.user_data).toBe('#!/bin/bash\necho join\n');

    fake.instances.get(inst.id)!.status = 'active';
    const listed = await provider.list();
    expect(listed).toEqual([
      {
        id: inst.id,
        pool: 'training',
        operationId: 'op-1',
        instanceType: 'gpu_1x_a100_sxm4',
        zone: 'us-east-1',
        state: 'running',
        address: expect.stringMatching(/^10\.10\.10\./),
        launchedAt: 1_700_000_000_000,
        pricePerHour: 1.29,
      },
    ]);
  });

  it('a second provision with the same operation id returns the same instance and launches nothing', async () => {
    const first = await provider.provision(request());
    // A restarted server: fresh provider, fresh state, same operation.
    const again = createLambdaProvider(spec(), memoryProviderContext({ env: { LAMBDA_API_KEY: fake.apiKey } }));
    const second = await again.provision(request());
    expect(second.id).toBe(first.id);
    expect(second.operationId).toBe('op-1');
    expect(fake.launches).toHaveLength(1);
    expect(fake.instances.size).toBe(1);
  });

  it('picks a region with capacity when the pool names none', async () => {
    const inst = await provider.provision(request({ zone: null, instanceType: 'gpu_8x_h100_sxm5' }));
    expect(inst.zone).toBe('us-tx-3');
    expect(fake.launches[0]?.region_name).toBe('us-tx-3');
  });

  it('insufficient capacity in one region is a capacity error naming that region; another region works', async () => {
    fake.capacity.set('gpu_1x_a100_sxm4', ['us-west-1']);
    const err = await failure(provider.provision(request({ zone: 'us-east-1' })));
    expect(err.kind).toBe('capacity');
    expect(err.details).toMatchObject({ zone: 'us-east-1', code: 'instance-operations/launch/insufficient-capacity', status: 400 });
    const inst = await provider.provision(request({ operationId: 'op-2', zone: 'us-west-1' }));
    expect(inst.zone).toBe('us-west-1');
  });

  it('no region with capacity at all is a capacity error without launching', async () => {
    fake.capacity.set('gpu_8x_h100_sxm5', []);
    const err = await failure(provider.provision(request({ zone: null, instanceType: 'gpu_8x_h100_sxm5' })));
    expect(err.kind).toBe('capacity');
    expect(fake.launches).toEqual([]);
  });

  it('an instance type Lambda does not offer is invalid', async () => {
    const err = await failure(provider.provision(request({ zone: null, instanceType: 'gpu_1x_nope' })));
    expect(err.kind).toBe('invalid');
    expect(err.message).toContain('gpu_1x_nope');
  });

  it('the documented quota answer is a quota error', async () => {
    fake.quota = 1;
    await provider.provision(request());
    const err = await failure(provider.provision(request({ operationId: 'op-2' })));
    expect(err.kind).toBe('quota');
    expect(err.details.code).toBe('global/quota-exceeded');
  });

  it('bad parameters (an unknown region) are invalid', async () => {
    const err = await failure(provider.provision(request({ zone: 'mars-north-1' })));
    expect(err.kind).toBe('invalid');
    expect(err.details.code).toBe('global/invalid-parameters');
  });

  it('a long operation id still gives a valid, stable, idempotent name', async () => {
    const id = `op-${'x'.repeat(80)}`;
    expect(lambdaInstanceName(id)).toHaveLength(49);
    expect(lambdaInstanceName(id)).toBe(lambdaInstanceName(id));
    const a = await provider.provision(request({ operationId: id }));
    const b = await provider.provision(request({ operationId: id }));
    expect(b.id).toBe(a.id);
    expect(fake.launches).toHaveLength(1);
    expect((await provider.list())[0]?.operationId).toBe(id);
  });

  it('user data over 1 MB is refused before launching', async () => {
    const err = await failure(provider.provision(request({ userData: 'x'.repeat(1024 * 1024 + 1) })));
    expect(err.kind).toBe('invalid');
    expect(fake.launches).toEqual([]);
  });
});

describe('lambda provider: transient failures', () => {
  it('throttling (429 with Retry-After) is transient with retryAfterMs, and a retry then succeeds', async () => {
    fake.throttleNext('POST', '/instance-operations/launch', 2);
    const first = await failure(provider.provision(request()));
    expect(first.kind).toBe('transient');
    expect(first.details).toMatchObject({ status: 429, retryAfterMs: 2000 });

    fake.throttleNext('POST', '/instance-operations/launch', 1);
    const waits: number[] = [];
    const inst = await withProviderRetry(() => provider.provision(request({ operationId: 'op-2' })), {
      attempts: 3,
      baseMs: 10,
      maxMs: 5000,
      sleep: async (ms) => void waits.push(ms),
    });
    expect(waits).toEqual([1000]);
    expect(inst.operationId).toBe('op-2');
    expect(fake.instances.size).toBe(1);
  });

  it('a slow answer times out as transient', async () => {
    const p = createLambdaProvider(spec(), ctx, { timeoutMs: 150 });
    fake.delays.set('GET /instances', 2000);
    const started = Date.now();
    const err = await failure(p.list());
    expect(err.kind).toBe('transient');
    expect(err.details.code).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('a 5xx and an upstream provider/ error are transient', async () => {
    fake.answerNext({ method: 'GET', path: '/instances', status: 503, body: '<html>Service Unavailable</html>' });
    const a = await failure(provider.list());
    expect(a).toMatchObject({ kind: 'transient', details: { status: 503 } });
    expect(a.message).toContain('Service Unavailable');
    fake.answerNext({
      method: 'POST',
      path: '/instance-operations/launch',
      status: 400,
      body: JSON.stringify({ error: { code: 'provider/internal-unavailable', message: 'Provider unavailable', suggestion: 'Try again shortly' } }),
    });
    const b = await failure(provider.provision(request()));
    expect(b).toMatchObject({ kind: 'transient', details: { code: 'provider/internal-unavailable' } });
  });

  it('a closed port is a transient network error', async () => {
    const closed = spec();
    await fake.close();
    const err = await failure(createLambdaProvider(closed, ctx).list());
    expect(err.kind).toBe('transient');
    expect(err.details.code).toBe('network');
  });
});

describe('lambda provider: garbage answers are clear errors', () => {
  const cases: Array<[string, string, string]> = [
    ['not JSON', 'GET /instances', '<html>hello</html>'],
    ['JSON without data', 'GET /instances', '{"instances": []}'],
    ['data of the wrong type', 'GET /instances', '{"data": "everything"}'],
    ['an instance without id', 'GET /instances', '{"data": [{"name": "gpufleet-x", "status": "active"}]}'],
    ['an instance without status', 'GET /instances', '{"data": [{"id": "abc", "name": "gpufleet-x"}]}'],
    ['instance types without the type', 'GET /instance-types', '{"data": {"gpu_1x_a100_sxm4": {"regions_with_capacity_available": []}}}'],
    ['instance types without regions', 'GET /instance-types', '{"data": {"gpu_1x_a100_sxm4": {"instance_type": {"name": "gpu_1x_a100_sxm4"}}}}'],
    ['an empty body', 'GET /instances', ''],
  ];
  it.each(cases)('%s', async (_name, what, body) => {
    const [method, path] = what.split(' ') as [string, string];
    fake.answerNext({ method, path, status: 200, body });
    const err = await failure(path === '/instances' ? provider.list() : provider.describe(['gpu_1x_a100_sxm4']));
    expect(err.kind).toBe('transient');
    expect(err.details.code).toBe('bad_response');
    expect(err.message).toMatch(/not (the )?(as )?documented/);
  });

  it('a launch answer without instance ids', async () => {
    fake.answerNext({ method: 'POST', path: '/instance-operations/launch', status: 200, body: '{"data": {"instance_ids": []}}' });
    const err = await failure(provider.provision(request()));
    expect(err).toMatchObject({ kind: 'transient', details: { code: 'bad_response' } });
  });

  it('an error answer that is not JSON still maps by status', async () => {
    fake.answerNext({ method: 'GET', path: '/instances', status: 403, body: 'Forbidden' });
    const err = await failure(provider.list());
    expect(err).toMatchObject({ kind: 'auth', details: { status: 403 } });
    expect(err.message).toContain('Forbidden');
  });
});

describe('lambda provider: terminate and list', () => {
  it('terminates an instance and forgets it', async () => {
    const inst = await provider.provision(request());
    await provider.terminate(inst.id);
    expect(fake.instances.size).toBe(0);
    expect(await provider.list()).toEqual([]);
    expect(ctx.state.values.size).toBe(0);
  });

  it('terminating an unknown instance is fine (not found)', async () => {
    await expect(provider.terminate('0920582c7ff041399e34823a0be62549')).resolves.toBeUndefined();
  });

  it('an unknown instance answered as a bad parameter is fine too, but not for one that exists', async () => {
    const bad = { status: 400, body: JSON.stringify({ error: DOCUMENTED_ERRORS.invalidParameters }) };
    fake.answerNext({ method: 'POST', path: '/instance-operations/terminate', ...bad });
    await expect(provider.terminate('unknown-id')).resolves.toBeUndefined();
    const inst = await provider.provision(request());
    fake.answerNext({ method: 'POST', path: '/instance-operations/terminate', ...bad });
    const err = await failure(provider.terminate(inst.id));
    expect(err.kind).toBe('invalid');
  });

  it('lists only gpufleet instances', async () => {
    await provider.provision(request());
    fake.instances.set('someone-elses', { ...[...fake.instances.values()][0]!, id: 'someone-elses', name: 'notebook' });
    const listed = await provider.list();
    expect(listed.map((i) => i.operationId)).toEqual(['op-1']);
  });

  it('maps every documented status', () => {
    expect(['booting', 'active', 'unhealthy', 'terminating', 'terminated', 'preempted', 'new-one'].map(lambdaState)).toEqual([
      'pending',
      'running',
      'running',
      'stopping',
      'terminated',
      'terminated',
      'pending',
    ]);
  });
});

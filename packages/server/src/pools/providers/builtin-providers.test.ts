import { describe, expect, it } from 'vitest';
import { memoryProviderContext } from './__tests__/memory-provider-context.js';
import { builtinProviderFactories } from './builtin-providers.js';

describe('builtinProviderFactories', () => {
  it('builds the aws and lambda adapters from their specs', async () => {
    const ctx = memoryProviderContext();
    const aws = builtinProviderFactories.aws!(
      {
        type: 'aws',
        region: 'us-east-1',
        endpoint: 'http://127.0.0.1:9',
        imageId: null,
        subnets: {},
        securityGroupIds: [],
        keyName: null,
        instanceProfile: null,
      },
      ctx,
    );
    const lambda = builtinProviderFactories.lambda!(
      { type: 'lambda', apiKeyEnv: 'LAMBDA_API_KEY', endpoint: 'http://127.0.0.1:9/api/v1', sshKeyNames: ['k'] },
      ctx,
    );
    expect([aws.type, lambda.type]).toEqual(['aws', 'lambda']);
    expect(aws.name).toBe(ctx.name);
    await aws.close();
    await lambda.close();
  });

  it('refuses a spec of another type with a clear error', () => {
    expect(() => builtinProviderFactories.aws!({ type: 'ssh', hostsFile: 'hosts.yaml' }, memoryProviderContext())).toThrow(
      /ssh provider spec was given to the aws factory/,
    );
  });
});

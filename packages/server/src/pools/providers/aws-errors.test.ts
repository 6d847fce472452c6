import { describe, expect, it } from 'vitest';
import { providerErrorFromAws } from './aws-errors.js';
import { ProviderError } from './cloud-provider.js';

/** An error shaped as @aws-sdk/client-ec2 throws for an EC2 error answer. */
function ec2Error(code: string, status: number, fault: 'client' | 'server' = status >= 500 ? 'server' : 'client') {
  return Object.assign(new Error(`message for ${code}`), { name: code, $fault: fault, $metadata: { httpStatusCode: status } });
}

describe('providerErrorFromAws', () => {
  it.each([
    ['InsufficientInstanceCapacity', 500, 'capacity'],
    ['InsufficientHostCapacity', 500, 'capacity'],
    ['Unsupported', 400, 'capacity'],
    ['InstanceLimitExceeded', 400, 'quota'],
    ['VcpuLimitExceeded', 400, 'quota'],
    ['MaxSpotInstanceCountExceeded', 400, 'quota'],
    ['AuthFailure', 401, 'auth'],
    ['UnauthorizedOperation', 403, 'auth'],
    ['OptInRequired', 403, 'auth'],
    ['InvalidParameterValue', 400, 'invalid'],
    ['InvalidAMIID.NotFound', 400, 'invalid'],
    ['InvalidAMIID.Malformed', 400, 'invalid'],
    ['InvalidSubnetID.NotFound', 400, 'invalid'],
    ['IdempotentParameterMismatch', 400, 'invalid'],
    ['InvalidInstanceID.NotFound', 400, 'not_found'],
    ['RequestLimitExceeded', 503, 'transient'],
    ['ServiceUnavailable', 503, 'transient'],
    ['InternalError', 500, 'transient'],
    ['SomethingNew', 500, 'transient'],
    ['SomethingNew', 400, 'invalid'],
  ] as const)('%s (HTTP %d) is %s', (code, status, kind) => {
    const err = providerErrorFromAws(ec2Error(code, status), { action: 'RunInstances', zone: 'us-east-1a' });
    expect(err.kind).toBe(kind);
    expect(err.details).toMatchObject({ code, status });
    expect(err.message).toBe(`aws RunInstances: ${code}: message for ${code}`);
    expect(err.details.zone).toBe(kind === 'capacity' ? 'us-east-1a' : undefined);
  });

  it('Unsupported outside a launch is invalid, not capacity', () => {
    expect(providerErrorFromAws(ec2Error('Unsupported', 400), { action: 'DescribeInstances' }).kind).toBe('invalid');
  });

  it('missing credentials are auth', () => {
    const err = providerErrorFromAws(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }), {
      action: 'DescribeInstances',
    });
    expect(err.kind).toBe('auth');
    expect(err.message).toContain('no AWS credentials');
  });

  it('timeouts and network errors are transient', () => {
    const timeout = providerErrorFromAws(Object.assign(new Error('Request timed out'), { name: 'TimeoutError' }), { action: 'RunInstances' });
    expect(timeout).toMatchObject({ kind: 'transient', details: { code: 'timeout' } });
    const reset = providerErrorFromAws(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), { action: 'RunInstances' });
    expect(reset).toMatchObject({ kind: 'transient', details: { code: 'ECONNRESET' } });
    expect(providerErrorFromAws('weird', { action: 'RunInstances' }).kind).toBe('transient');
  });

  it('a ProviderError passes through unchanged', () => {
    const e = new ProviderError('quota', 'already mapped');
    expect(providerErrorFromAws(e, { action: 'RunInstances' })).toBe(e);
  });
});

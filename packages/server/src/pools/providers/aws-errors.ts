import { ProviderError } from './cloud-provider.js';

/**
 * Maps what @aws-sdk/client-ec2 throws to a ProviderError. EC2 names its failures by code (the
 * SDK's error `name`), as listed in the EC2 API reference "Error codes": client errors come with
 * HTTP 4xx, server errors with 5xx.
 */

/** No capacity for the type where we asked: try another zone. */
const CAPACITY = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientHostCapacity',
  'InsufficientReservedInstanceCapacity',
  'InsufficientCapacity',
  'InsufficientCapacityOnHost',
]);
/** Account limits: asking again will not help until someone raises them. */
const QUOTA = new Set(['InstanceLimitExceeded', 'VcpuLimitExceeded', 'MaxSpotInstanceCountExceeded', 'ResourceLimitExceeded']);
const AUTH = new Set([
  'AuthFailure',
  'UnauthorizedOperation',
  'Blocked',
  'OptInRequired',
  'PendingVerification',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'ExpiredToken',
  'CredentialsProviderError',
]);
const TRANSIENT = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'ServiceUnavailable',
  'Unavailable',
  'InternalError',
  'RequestExpired',
]);
/** What the SDK's HTTP handler throws when a call takes too long or is abandoned. */
const TIMEOUTS = new Set(['TimeoutError', 'AbortError', 'RequestTimeout', 'RequestTimeoutException']);

interface AwsLikeError {
  name?: string;
  message?: string;
  code?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

export interface AwsCallContext {
  /** The EC2 action, e.g. RunInstances. */
  action: string;
  /** The zone asked for (capacity errors name it). */
  zone?: string | null;
}

export function providerErrorFromAws(err: unknown, context: AwsCallContext): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as AwsLikeError;
  const code = e.name && e.name !== 'Error' ? e.name : e.code;
  const status = e.$metadata?.httpStatusCode;
  const said = `aws ${context.action}: ${code ? `${code}: ` : ''}${oneLine(e.message ?? '')}`;
  const details = { ...(status !== undefined ? { status } : {}), ...(code ? { code } : {}) };
  const zone = context.zone ? { zone: context.zone } : {};

  if (code === 'CredentialsProviderError') {
    return new ProviderError(
      'auth',
      `aws ${context.action}: no AWS credentials found (environment, shared config, SSO, instance role): ${oneLine(e.message ?? '')}`,
      details,
    );
  }
  if (code !== undefined && TIMEOUTS.has(code))
    return new ProviderError('transient', `aws ${context.action}: no answer in time (${oneLine(e.message ?? code)})`, { ...details, code: 'timeout' });
  // No HTTP status: the request never got an answer (connection refused, reset, DNS) or the answer could not be read.
  if (status === undefined)
    return new ProviderError('transient', `aws ${context.action}: ${code ? `${code}: ` : ''}${oneLine(e.message ?? 'network error')}`, {
      ...details,
      code: code ?? 'network',
    });
  // A 2xx that fails: the SDK could not read the answer (not XML, cut short).
  if (status >= 200 && status < 300) {
    return new ProviderError('transient', `aws ${context.action}: answer is not as documented: ${oneLine(e.message ?? '')}`, { status, code: 'bad_response' });
  }
  // The SDK names an error answer it cannot read "Unknown".
  if (code === undefined || code === 'Unknown') {
    return byStatus(
      `aws ${context.action}: HTTP ${status} with an error answer that names no EC2 error code${e.message && e.message !== 'Unknown' ? ` (${oneLine(e.message)})` : ''}`,
      status,
      { status, code: 'bad_response' },
      e.$fault,
    );
  }
  if (CAPACITY.has(code)) return new ProviderError('capacity', said, { ...details, ...zone });
  // "Unsupported" on launch: this type is not offered in this zone, which for a pool is like no capacity there.
  if (code === 'Unsupported' && context.action === 'RunInstances') return new ProviderError('capacity', said, { ...details, ...zone });
  if (QUOTA.has(code)) return new ProviderError('quota', said, details);
  if (AUTH.has(code)) return new ProviderError('auth', said, details);
  if (TRANSIENT.has(code)) return new ProviderError('transient', said, details);
  if (code.endsWith('.NotFound') && code.startsWith('InvalidInstanceID')) return new ProviderError('not_found', said, details);
  if (
    code.startsWith('Invalid') ||
    code.startsWith('Missing') ||
    code === 'IdempotentParameterMismatch' ||
    code === 'UnknownParameter' ||
    code === 'Unsupported'
  ) {
    return new ProviderError('invalid', said, details);
  }
  return byStatus(said, status, details, e.$fault);
}

function byStatus(said: string, status: number, details: { status?: number; code?: string }, fault?: 'client' | 'server'): ProviderError {
  if (status === 401 || status === 403) return new ProviderError('auth', said, details);
  if (status >= 500 || status === 429 || fault === 'server') return new ProviderError('transient', said, details);
  return new ProviderError('invalid', said, details);
}

function oneLine(text: string): string {
  const s = text.replace(/\s+/g, ' ').trim();
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

import { describe, expect, it } from 'vitest';
import { errorFromAnswer, parseRetryAfter } from './lambda-api.js';

describe('errorFromAnswer', () => {
  const body = (code: string) => ({ error: { code, message: 'm' } });
  it.each([
    [401, 'global/invalid-api-key', 'auth'],
    [403, 'global/account-inactive', 'auth'],
    [400, 'global/quota-exceeded', 'quota'],
    [400, 'instance-operations/launch/insufficient-capacity', 'capacity'],
    [400, 'global/invalid-parameters', 'invalid'],
    [400, 'instance-operations/launch/file-system-in-wrong-region', 'invalid'],
    [404, 'global/object-does-not-exist', 'not_found'],
    [503, 'provider/internal-unavailable', 'transient'],
    [500, 'global/unknown', 'transient'],
    [429, 'global/quota-exceeded', 'transient'],
    [400, 'something/new', 'invalid'],
  ] as const)('HTTP %d %s is %s', (status, code, kind) => {
    const err = errorFromAnswer('POST /x', status, body(code), '', null, 'us-east-1');
    expect(err.kind).toBe(kind);
    expect(err.details.code).toBe(code);
    expect(err.details.zone).toBe(kind === 'capacity' ? 'us-east-1' : undefined);
  });

  it('keeps the suggestion in the message', () => {
    const err = errorFromAnswer(
      'GET /instances',
      401,
      { error: { code: 'global/invalid-api-key', message: 'bad key', suggestion: 'make a new one' } },
      '',
      null,
    );
    expect(err.message).toBe('lambda GET /instances: global/invalid-api-key: bad key (make a new one)');
  });

  it('reads Retry-After on 429 and 5xx', () => {
    expect(errorFromAnswer('GET /x', 429, undefined, '', '3', undefined).details.retryAfterMs).toBe(3000);
    expect(errorFromAnswer('GET /x', 503, undefined, '', '1', undefined).details.retryAfterMs).toBe(1000);
  });
});

describe('parseRetryAfter', () => {
  it('takes seconds or an HTTP date, and ignores nonsense', () => {
    const now = Date.parse('2026-12-05T10:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Sat, 05 Dec 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Sat, 05 Dec 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
  });
});

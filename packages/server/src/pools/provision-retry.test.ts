import { describe, expect, it } from 'vitest';
import { afterProvisionError, backoffMs, firstUntriedZone, leastLoadedZone, MAX_TRANSIENT_ATTEMPTS } from './provision-retry.js';

const NOW = 5_000_000;
const zones = ['us-east-1a', 'us-east-1b'];

describe('afterProvisionError', () => {
  it('no capacity moves to the next zone, then fails naming the zones', () => {
    expect(
      afterProvisionError({ kind: 'capacity', message: 'InsufficientInstanceCapacity' }, { zones, zonesTried: ['us-east-1a'], attempts: 1, now: NOW }),
    ).toEqual({
      kind: 'next-zone',
      zone: 'us-east-1b',
    });
    expect(afterProvisionError({ kind: 'capacity', message: 'InsufficientInstanceCapacity' }, { zones, zonesTried: zones, attempts: 2, now: NOW })).toEqual({
      kind: 'fail',
      message: 'no capacity in us-east-1a, us-east-1b: InsufficientInstanceCapacity',
    });
  });
  it('no capacity with no zones named fails at once', () => {
    expect(afterProvisionError({ kind: 'capacity', message: 'sold out' }, { zones: [], zonesTried: [], attempts: 1, now: NOW }).kind).toBe('fail');
  });
  it('transient retries with backoff or when the provider said, then gives up', () => {
    expect(afterProvisionError({ kind: 'transient', message: '503' }, { zones, zonesTried: ['us-east-1a'], attempts: 2, now: NOW })).toEqual({
      kind: 'retry',
      notBefore: NOW + 10_000,
    });
    expect(afterProvisionError({ kind: 'transient', message: '429', retryAfterMs: 42_000 }, { zones, zonesTried: [], attempts: 1, now: NOW })).toEqual({
      kind: 'retry',
      notBefore: NOW + 42_000,
    });
    expect(afterProvisionError({ kind: 'transient', message: '503' }, { zones, zonesTried: [], attempts: MAX_TRANSIENT_ATTEMPTS, now: NOW }).kind).toBe('fail');
  });
  for (const kind of ['quota', 'auth', 'invalid', 'not_found'] as const) {
    it(`${kind} fails with the provider's message`, () => {
      expect(afterProvisionError({ kind, message: 'VcpuLimitExceeded' }, { zones, zonesTried: [], attempts: 1, now: NOW })).toEqual({
        kind: 'fail',
        message: `${kind}: VcpuLimitExceeded`,
      });
    });
  }
});

describe('zones and backoff', () => {
  it('first untried zone; null when the pool names none; undefined when all are tried', () => {
    expect(firstUntriedZone(zones, [])).toBe('us-east-1a');
    expect(firstUntriedZone([], [])).toBeNull();
    expect(firstUntriedZone(zones, zones)).toBeUndefined();
  });
  it('least-loaded untried zone, ties in the pool order', () => {
    const load = new Map([
      ['us-east-1a', 3],
      ['us-east-1b', 1],
    ]);
    expect(leastLoadedZone(zones, [], load)).toBe('us-east-1b');
    expect(
      leastLoadedZone(
        ['a', 'b'],
        [],
        new Map([
          ['a', 2],
          ['b', 1],
        ]),
      ),
    ).toBe('b');
    expect(leastLoadedZone(['a', 'b'], [], new Map())).toBe('a');
    expect(leastLoadedZone(['a', 'b'], ['b'], new Map([['a', 5]]))).toBe('a');
    expect(leastLoadedZone(['a', 'b'], ['a', 'b'], new Map())).toBeUndefined();
    expect(leastLoadedZone([], [], new Map())).toBeNull();
  });
  it('doubles from 5 s up to 5 min', () => {
    expect([1, 2, 3, 10].map(backoffMs)).toEqual([5_000, 10_000, 20_000, 300_000]);
  });
});

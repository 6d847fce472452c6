import { describe, expect, it } from 'vitest';
import { ProviderError } from './cloud-provider.js';
import { backoffMs, withProviderRetry } from './provider-retry.js';

function recorder() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

describe('withProviderRetry', () => {
  it('retries transient errors with doubling, jittered waits, then returns the result', async () => {
    const { waits, sleep } = recorder();
    let calls = 0;
    const result = await withProviderRetry(
      async () => {
        calls++;
        if (calls < 4) throw new ProviderError('transient', 'throttled');
        return 'ok';
      },
      { attempts: 5, baseMs: 100, maxMs: 300, sleep, random: () => 0.5 },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(4);
    // ceilings 100, 200, 300 (capped), each halved by the jitter
    expect(waits).toEqual([50, 100, 150]);
  });

  it('gives up after the last attempt and throws the last transient error', async () => {
    const { waits, sleep } = recorder();
    let calls = 0;
    const err = await withProviderRetry(
      async () => {
        calls++;
        throw new ProviderError('transient', `try ${calls}`);
      },
      { attempts: 3, baseMs: 10, maxMs: 100, sleep, random: () => 1 },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as Error).message).toBe('try 3');
    expect(waits).toEqual([10, 20]);
  });

  it.each(['quota', 'capacity', 'auth', 'invalid', 'not_found'] as const)('does not retry a %s error', async (kind) => {
    const { waits, sleep } = recorder();
    let calls = 0;
    const err = await withProviderRetry(
      async () => {
        calls++;
        throw new ProviderError(kind, 'no');
      },
      { attempts: 5, baseMs: 10, maxMs: 100, sleep },
    ).catch((e: unknown) => e);
    expect((err as ProviderError).kind).toBe(kind);
    expect(calls).toBe(1);
    expect(waits).toEqual([]);
  });

  it('does not retry errors that are not ProviderErrors (bugs surface at once)', async () => {
    let calls = 0;
    await expect(
      withProviderRetry(
        async () => {
          calls++;
          throw new TypeError('boom');
        },
        { attempts: 5, baseMs: 1, maxMs: 1, sleep: async () => {} },
      ),
    ).rejects.toThrow(TypeError);
    expect(calls).toBe(1);
  });

  it("waits at least the provider's retryAfterMs", async () => {
    const { waits, sleep } = recorder();
    let calls = 0;
    await withProviderRetry(
      async () => {
        if (++calls === 1) throw new ProviderError('transient', 'slow down', { retryAfterMs: 900 });
        return calls;
      },
      { attempts: 3, baseMs: 10, maxMs: 1000, sleep, random: () => 0 },
    );
    expect(waits).toEqual([900]);
  });

  it('returns at once when the provider asks for a wait longer than maxMs', async () => {
    const { waits, sleep } = recorder();
    let calls = 0;
    const err = await withProviderRetry(
      async () => {
        calls++;
        throw new ProviderError('transient', 'come back in an hour', { retryAfterMs: 3_600_000 });
      },
      { attempts: 5, baseMs: 10, maxMs: 30_000, sleep },
    ).catch((e: unknown) => e);
    expect((err as ProviderError).details.retryAfterMs).toBe(3_600_000);
    expect(calls).toBe(1);
    expect(waits).toEqual([]);
  });

  it('passes the attempt number and reports each retry', async () => {
    const seen: number[] = [];
    const retries: Array<[number, number]> = [];
    await withProviderRetry(
      async (attempt) => {
        seen.push(attempt);
        if (attempt < 3) throw new ProviderError('transient', 'again');
      },
      { attempts: 3, baseMs: 4, maxMs: 100, sleep: async () => {}, random: () => 1, onRetry: (_e, a, d) => retries.push([a, d]) },
    );
    expect(seen).toEqual([1, 2, 3]);
    expect(retries).toEqual([
      [1, 4],
      [2, 8],
    ]);
  });

  it('refuses nonsense options with the option named', async () => {
    await expect(withProviderRetry(async () => 1, { attempts: 0, baseMs: 1, maxMs: 1 })).rejects.toThrow(/attempts/);
    await expect(withProviderRetry(async () => 1, { attempts: 1.5, baseMs: 1, maxMs: 1 })).rejects.toThrow(/attempts/);
    await expect(withProviderRetry(async () => 1, { attempts: 2, baseMs: 10, maxMs: 1 })).rejects.toThrow(/baseMs/);
  });
});

describe('backoffMs', () => {
  it('clamps a random source outside 0..1', () => {
    expect(backoffMs(1, 100, 1000, () => 7)).toBe(100);
    expect(backoffMs(1, 100, 1000, () => -1)).toBe(0);
  });
});

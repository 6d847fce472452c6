import { ProviderError } from './cloud-provider.js';

/** How a provider call is retried; the adapters' own SDK retries are off so this is the only policy. */
export interface ProviderRetryOptions {
  /** Tries in all, the first included (1: no retry). */
  attempts: number;
  /** Backoff before the second try; doubles each time up to `maxMs`. */
  baseMs: number;
  maxMs: number;
  /** Injected so tests do not wait. */
  sleep?: (ms: number) => Promise<void>;
  /** 0..1, for the jitter; injected so tests are exact. */
  random?: () => number;
  /** Told before each wait (for logs). */
  onRetry?: (error: ProviderError, attempt: number, delayMs: number) => void;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn` and retries it while it fails with a transient ProviderError, waiting an exponential
 * backoff with full jitter between tries. A provider's own "come back in N ms" is honoured: the
 * wait is at least that long; when it is longer than `maxMs` the error is returned at once, so the
 * caller (the reconcile loop) decides when to come back instead of a call hanging for minutes.
 * Any other error (quota, capacity, auth, invalid, or not a ProviderError) is thrown at once.
 */
export async function withProviderRetry<T>(fn: (attempt: number) => Promise<T>, options: ProviderRetryOptions): Promise<T> {
  const { attempts, baseMs, maxMs } = options;
  if (!Number.isInteger(attempts) || attempts < 1) throw new RangeError(`withProviderRetry: attempts must be an integer >= 1, got ${attempts}`);
  if (!(baseMs >= 0) || !(maxMs >= baseMs)) throw new RangeError(`withProviderRetry: want 0 <= baseMs <= maxMs, got baseMs=${baseMs} maxMs=${maxMs}`);
  const sleep = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!(err instanceof ProviderError) || !err.retryable || attempt >= attempts) throw err;
      const retryAfterMs = err.details.retryAfterMs;
      if (retryAfterMs !== undefined && retryAfterMs > maxMs) throw err;
      const delayMs = backoffMs(attempt, baseMs, maxMs, random, retryAfterMs);
      options.onRetry?.(err, attempt, delayMs);
      await sleep(delayMs);
    }
  }
}

/** Full jitter over the exponential ceiling, never below what the provider asked for. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number, retryAfterMs?: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  const jittered = Math.round(ceiling * Math.min(1, Math.max(0, random())));
  return Math.max(jittered, retryAfterMs ?? 0);
}

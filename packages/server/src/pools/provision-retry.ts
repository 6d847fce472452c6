import type { ProviderErrorKind } from '@gpufleet/protocol';

/** Transient errors retried at most this many times per operation before it fails. */
export const MAX_TRANSIENT_ATTEMPTS = 8;
const BACKOFF_BASE_MS = 5_000;
const BACKOFF_MAX_MS = 5 * 60_000;

/** What to do after a provision failed (or its instance never joined). */
export type ProvisionRetry = { kind: 'next-zone'; zone: string } | { kind: 'retry'; notBefore: number } | { kind: 'fail'; message: string };

/** The first of the pool's zones not tried yet; null when the pool names none (the provider chooses). */
export function firstUntriedZone(zones: readonly string[], tried: readonly string[]): string | null | undefined {
  if (zones.length === 0) return tried.length === 0 ? null : undefined;
  return zones.find((z) => !tried.includes(z));
}

/**
 * The zone a new instance goes to: of the zones not tried yet, the one with the fewest members
 * and instances on their way (ties: the pool's order), so a pool spreads over its zones and one
 * zone's outage does not take most of it. null when the pool names no zone (the provider chooses).
 */
export function leastLoadedZone(zones: readonly string[], tried: readonly string[], load: ReadonlyMap<string, number>): string | null | undefined {
  if (zones.length === 0) return tried.length === 0 ? null : undefined;
  let best: string | undefined;
  for (const z of zones) {
    if (tried.includes(z)) continue;
    if (best === undefined || (load.get(z) ?? 0) < (load.get(best) ?? 0)) best = z;
  }
  return best;
}

/** Delay before the n-th retry (1-based): 5 s, 10 s, 20 s ... at most 5 min. */
export function backoffMs(attempt: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
}

/**
 * After a provider error: no capacity tries the pool's next zone (all tried: fail); a transient
 * error retries the same zone after a backoff (or when the provider said); quota, auth, invalid
 * and not_found fail at once with the provider's message.
 */
export function afterProvisionError(
  err: { kind: ProviderErrorKind; message: string; retryAfterMs?: number },
  o: { zones: readonly string[]; zonesTried: readonly string[]; attempts: number; now: number },
): ProvisionRetry {
  switch (err.kind) {
    case 'capacity': {
      const next = firstUntriedZone(o.zones, o.zonesTried);
      if (typeof next === 'string') return { kind: 'next-zone', zone: next };
      const where = o.zones.length > 0 ? ` in ${o.zones.join(', ')}` : '';
      return { kind: 'fail', message: `no capacity${where}: ${err.message}` };
    }
    case 'transient':
      if (o.attempts >= MAX_TRANSIENT_ATTEMPTS) return { kind: 'fail', message: `gave up after ${o.attempts} attempts: ${err.message}` };
      return { kind: 'retry', notBefore: o.now + (err.retryAfterMs ?? backoffMs(o.attempts)) };
    default:
      return { kind: 'fail', message: `${err.kind}: ${err.message}` };
  }
}

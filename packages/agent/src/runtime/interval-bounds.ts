import type { Logger } from './logger.js';

/** The range an interval the server sends is held to, in ms. */
export interface IntervalBounds {
  minMs: number;
  maxMs: number;
}

/**
 * How far an agent follows the intervals a server pushes (welcome and config frames). A server
 * (a broken or a hostile one) must not make hosts sample the GPUs every millisecond, nor go
 * quiet for days; what it asks for outside these bounds is clamped, with a warning.
 */
export interface ServerIntervalBounds {
  metrics: IntervalBounds;
  heartbeat: IntervalBounds;
}

/**
 * Metrics from 1 s to 10 min; heartbeats from 1 s to 1 min (the server calls a node OFFLINE
 * after 3 missed beats, so longer beats only delay that verdict).
 */
export const DEFAULT_SERVER_INTERVAL_BOUNDS: ServerIntervalBounds = {
  metrics: { minMs: 1_000, maxMs: 600_000 },
  heartbeat: { minMs: 1_000, maxMs: 60_000 },
};

/**
 * The interval to use for `requestedMs` from the server: inside `bounds`, and a warning
 * (naming what was asked and what is used) when it had to be moved.
 */
export function clampServerInterval(what: 'metrics' | 'heartbeat', requestedMs: number, bounds: IntervalBounds, logger: Logger): number {
  const usable = Number.isFinite(requestedMs) ? requestedMs : bounds.maxMs;
  const ms = Math.min(bounds.maxMs, Math.max(bounds.minMs, usable));
  if (ms !== requestedMs) {
    logger.warn(`the server asked for a ${what} interval outside what this agent accepts; clamped`, {
      requestedMs,
      usedMs: ms,
      minMs: bounds.minMs,
      maxMs: bounds.maxMs,
    });
  }
  return ms;
}

/** Checks bounds given as an option: whole positive ms, min not above max. */
export function checkIntervalBounds(bounds: ServerIntervalBounds): ServerIntervalBounds {
  for (const [name, b] of Object.entries(bounds) as [string, IntervalBounds][]) {
    if (!Number.isInteger(b?.minMs) || !Number.isInteger(b?.maxMs) || b.minMs < 1 || b.maxMs < b.minMs) {
      throw new RangeError(`${name} interval bounds must be whole ms with 1 <= min <= max, not ${JSON.stringify(b)}`);
    }
  }
  return bounds;
}

/**
 * For simulated hosts and tests, which run the real agent against servers that push intervals
 * of milliseconds on purpose: any whole ms is followed. Never for an agent on a real host.
 */
export const SIMULATION_INTERVAL_BOUNDS: ServerIntervalBounds = {
  metrics: { minMs: 1, maxMs: 600_000 },
  heartbeat: { minMs: 1, maxMs: 60_000 },
};

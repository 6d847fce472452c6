import { z } from 'zod';
import { POOL_EVENT_KINDS, POOL_NAME, POOL_OP_KINDS, POOL_OP_STAGES } from '@gpufleet/protocol';

/**
 * What a scenario says about pools (issue 11): the pools file it applies, and conditions on a
 * pool as GET /api/v1/pools/{name} and its events show it, plus two facts only the simulator
 * knows (which pool hosts the scenario hit with a fault, and what still ran on a host when its
 * instance was switched off).
 *
 *   pools: pools.yaml            # or the pools file written inline
 *   assert:
 *     - {always: {pool: gpu, capacity: {min: 200}}, during: 60s}
 *     - {within: 30s, expect: {pool: gpu, ready: 200, inFlight: 0, faultsReplaced: true}}
 *     - {expect: {pool: gpu, killedAllocations: 0}}
 */

/** A number, or a range `{min, max}` (either end may be left out). */
export const CountRange = z.union(
  [
    z.number().int().min(0).max(1_000_000),
    z
      .strictObject({ min: z.number().int().min(0).max(1_000_000).optional(), max: z.number().int().min(0).max(1_000_000).optional() })
      .refine((r) => r.min !== undefined || r.max !== undefined, 'give min, max or both')
      .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, 'min is above max'),
  ],
  { error: 'expected a number or a range such as {min: 200}' },
);
export type CountRange = z.infer<typeof CountRange>;

const stages = z.union([z.enum(POOL_OP_STAGES), z.array(z.enum(POOL_OP_STAGES)).min(1)]);

export const PoolCondition = z
  .strictObject({
    pool: z.string({ error: 'expected a pool name such as gpu' }).regex(POOL_NAME, 'expected a pool name such as gpu'),
    /** Members whose node is READY. */
    ready: CountRange.optional(),
    /** Members in any state but terminated. */
    current: CountRange.optional(),
    desired: CountRange.optional(),
    /** Operations not done or failed. */
    inFlight: CountRange.optional(),
    /**
     * Members the pool has up, healthy or not: joined, online, not draining or terminating. A
     * faulted node counts until its replacement is READY, so a repair that gives up a node
     * before its replacement came up shows here as a drop below min.
     */
    capacity: CountRange.optional(),
    /** Active members whose node's verdict is unhealthy (faulted and not yet replaced). */
    unhealthy: CountRange.optional(),
    /** Operations of the pool (as its detail lists them) of a kind and stage. */
    operations: z.strictObject({ kind: z.enum(POOL_OP_KINDS).optional(), stage: stages.optional(), count: CountRange }).optional(),
    /** Events of the pool of a kind. */
    events: z.strictObject({ kind: z.enum(POOL_EVENT_KINDS), count: CountRange }).optional(),
    /** true: every pool host the scenario injected a fault into was replaced (a replace done for its node) and switched off. */
    faultsReplaced: z.literal(true).optional(),
    /** Allocations still running on the pool's hosts when their instances were switched off (the simulator saw them die). */
    killedAllocations: CountRange.optional(),
  })
  .refine(
    (c) =>
      [c.ready, c.current, c.desired, c.inFlight, c.capacity, c.unhealthy, c.operations, c.events, c.faultsReplaced, c.killedAllocations].some(
        (v) => v !== undefined,
      ),
    'say what to check: ready, current, desired, inFlight, capacity, unhealthy, operations, events, faultsReplaced or killedAllocations',
  );
export type PoolCondition = z.infer<typeof PoolCondition>;

/** The pools file to apply once the fleet is up: a path (relative to the scenario) or the file inline. */
export const ScenarioPools = z.union(
  [z.string().min(1).max(4096), z.record(z.string(), z.unknown()).refine((m) => Object.keys(m).length > 0, 'an inline pools file needs providers and pools')],
  { error: 'expected a pools file path (relative to the scenario) or a pools file written inline' },
);
export type ScenarioPools = z.infer<typeof ScenarioPools>;

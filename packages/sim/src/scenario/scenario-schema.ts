import { z } from 'zod';
import {
  ALERT_SEVERITIES,
  ALERT_STATES,
  ALLOC_STATUSES,
  GPU_STATES,
  JOB_NAME,
  JOB_STATUSES,
  NODE_STATUSES,
  POOL_NAME,
  REPORTED_VERDICTS,
} from '@gpufleet/protocol';
import { FaultSpec, GPU_FAULTS, SimDuration, isAllocRef, type FaultKind } from '../faults/fault-spec.js';
import { ActionSpec } from './action-spec.js';
import { PoolCondition, ScenarioPools } from './pool-schema.js';
import { SIM_GPU_MODELS } from '../gpu-models.js';

/**
 * The scenario file format (YAML), checked with zod. A scenario names a fleet, the server's
 * settings, a timeline of injected faults and the assertions to check through the REST API:
 *
 *   name: xid-79-cordons-one-gpu
 *   fleet: {nodes: 2, mix: {H100: 1}, seed: 7}
 *   server: {heartbeatInterval: 200ms, metricsInterval: 250ms}
 *   events:
 *     - {at: 1s, host: sim-h100-001, gpu: 3, inject: xid, code: 79}
 *   assert:
 *     - {within: 5s, expect: {node: sim-h100-001, gpu: 3, state: UNHEALTHY}}
 *     - {expect: {alert: {rule: GpuUnhealthy, node: sim-h100-001, gpu: 3}}}
 *     - {never: {node: sim-h100-002, status: [CORDONED, UNHEALTHY]}, during: 3s}
 */

/** Forwards another schema's issues from inside a transform (paths relative to the value). */
function forward<T extends z.ZodType>(schema: T, value: unknown, ctx: z.RefinementCtx): z.infer<T> | typeof z.NEVER {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  for (const iss of r.error.issues) {
    // An unknown key is best pointed at: its own line, not its parent's.
    const keys = iss.code === 'unrecognized_keys' ? (iss as { keys: string[] }).keys : [];
    ctx.addIssue({ code: 'custom', message: iss.message, path: keys.length > 0 ? [...iss.path, keys[0]!] : iss.path });
  }
  return z.NEVER;
}

const hostname = z.string({ error: 'expected a hostname such as sim-h100-001' }).min(1).max(253);
const gpuIndex = z.number({ error: 'expected a GPU index (0, 1, ...)' }).int().min(0).max(63);
const count = z.number({ error: 'expected a whole number' }).int().min(0).max(64);

/** A node's state as GET /api/v1/nodes/{node} shows it: status, verdict, GPU states and counts. */
export const NodeCondition = z
  .strictObject({
    node: hostname,
    status: z.union([z.enum(NODE_STATUSES), z.array(z.enum(NODE_STATUSES)).min(1)]).optional(),
    /** The node's verdict, or the GPU's with `gpu`. */
    verdict: z.enum(REPORTED_VERDICTS).optional(),
    gpu: gpuIndex.optional(),
    /** The GPU's state (needs `gpu`). */
    state: z.enum(GPU_STATES).optional(),
    /** How many of the node's GPUs are READY. */
    gpusReady: count.optional(),
    /** How many GPUs the node's inventory lists. */
    gpus: count.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.status === undefined && c.verdict === undefined && c.state === undefined && c.gpusReady === undefined && c.gpus === undefined) {
      ctx.addIssue({ code: 'custom', message: 'say what to check: status, verdict, state (with gpu), gpusReady or gpus' });
    }
    if (c.state !== undefined && c.gpu === undefined)
      ctx.addIssue({ code: 'custom', message: 'state is a GPU state: give the gpu index too', path: ['state'] });
    if (c.gpu !== undefined && c.state === undefined && c.verdict === undefined)
      ctx.addIssue({ code: 'custom', message: 'with gpu, check its state or verdict', path: ['gpu'] });
    if (c.gpu !== undefined && (c.status !== undefined || c.gpusReady !== undefined || c.gpus !== undefined)) {
      ctx.addIssue({ code: 'custom', message: 'status, gpusReady and gpus are about the node: put them in a separate check from the gpu one', path: ['gpu'] });
    }
  });
export type NodeCondition = z.infer<typeof NodeCondition>;

/** An alert instance as GET /api/v1/alerts lists it. */
export const AlertCondition = z.strictObject({
  alert: z.strictObject({
    rule: z.string({ error: 'expected an alert rule name, e.g. GpuUnhealthy' }).min(1).max(128),
    /** Default firing. */
    state: z.enum(ALERT_STATES).optional(),
    node: hostname.optional(),
    gpu: gpuIndex.optional(),
    severity: z.enum(ALERT_SEVERITIES).optional(),
  }),
});
export type AlertCondition = z.infer<typeof AlertCondition>;

/** An entry of the events timeline (GET /api/v1/events): a raw agent event or a health record. */
export const EventCondition = z.strictObject({
  event: z.strictObject({
    node: hostname,
    kind: z.string({ error: 'expected an event kind such as xid, sxid, counter, verdict' }).min(1).max(64),
    code: z.number().int().min(0).max(99_999).optional(),
    /** At least this many (default 1). */
    count: z.number().int().min(1).max(1000).optional(),
  }),
});
export type EventCondition = z.infer<typeof EventCondition>;

const jobName = z.string({ error: 'expected a job name such as web' }).regex(JOB_NAME, 'expected a job name such as web');
const allocStatus = z.union([z.enum(ALLOC_STATUSES), z.array(z.enum(ALLOC_STATUSES)).min(1)]);
const version = z.number({ error: 'expected a job version (1, 2, ...)' }).int().min(1).max(1_000_000);
const allocCount = z.number({ error: 'expected a whole number' }).int().min(0).max(100_000);

/**
 * A job as GET /api/v1/jobs/{name} shows it (status, current version, allocations running, its
 * last rolling update, its versions' statuses) and its allocations, every version and state, as GET /api/v1/allocations?job= lists
 * them: `counts` by status, and `replaced`, the names of the allocations that were replaced
 * (moved off a GPU or node, or updated), so "only web-0 moved" is `replaced: [web-0]`.
 */
export const JobCondition = z
  .strictObject({
    job: jobName,
    status: z.union([z.enum(JOB_STATUSES), z.array(z.enum(JOB_STATUSES)).min(1)]).optional(),
    version: version.optional(),
    /** Allocations running now. */
    running: allocCount.optional(),
    /** The last rolling update's state (a revert is a deployment of its own: after one, this is the revert's). */
    deployment: z.enum(['running', 'succeeded', 'failed', 'reverted']).optional(),
    /** Versions' statuses, e.g. {1: current, 2: reverted}. */
    versions: z
      .record(z.string(), z.enum(['current', 'superseded', 'reverted']))
      .superRefine((m, ctx) => {
        if (Object.keys(m).length === 0) ctx.addIssue({ code: 'custom', message: 'name at least one version' });
        for (const key of Object.keys(m))
          if (!/^[1-9]\d{0,6}$/.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: `'${key}' is not a version number (1, 2, ...)` });
      })
      .optional(),
    /** How many of the job's allocations (all versions, replaced ones too) have each status; unnamed statuses are not checked. */
    counts: z.partialRecord(z.enum(ALLOC_STATUSES), allocCount).optional(),
    replaced: z.array(z.string().min(1).max(64)).max(1000).optional(),
  })
  .refine(
    (c) =>
      c.status !== undefined ||
      c.version !== undefined ||
      c.running !== undefined ||
      c.deployment !== undefined ||
      c.counts !== undefined ||
      c.replaced !== undefined,
    'say what to check: status, version, running, deployment, counts or replaced',
  );
export type JobCondition = z.infer<typeof JobCondition>;

/**
 * One allocation as GET /api/v1/jobs/{job}/allocations/{name} shows it: the newest of that
 * name (after a move, the replacement). `moved`: it replaced an allocation of the same name
 * that ran on another node or other GPUs.
 */
export const AllocCondition = z
  .strictObject({
    alloc: z.string().refine((t) => isAllocRef(t) && t.includes('/'), 'expected job/name, such as web/web-0'),
    status: allocStatus.optional(),
    node: hostname.optional(),
    healthy: z.boolean().optional(),
    restarts: z.number().int().min(0).max(100_000).optional(),
    moved: z.boolean().optional(),
    version: version.optional(),
  })
  .refine(
    (c) =>
      c.status !== undefined || c.node !== undefined || c.healthy !== undefined || c.restarts !== undefined || c.moved !== undefined || c.version !== undefined,
    'say what to check: status, node, healthy, restarts, moved or version',
  );
export type AllocCondition = z.infer<typeof AllocCondition>;

/** How many allocations GET /api/v1/allocations lists with these filters (job, node, status, version). */
export const AllocationsCondition = z.strictObject({
  allocations: z.strictObject({
    job: jobName.optional(),
    node: hostname.optional(),
    status: allocStatus.optional(),
    version: version.optional(),
    count: allocCount,
  }),
});
export type AllocationsCondition = z.infer<typeof AllocationsCondition>;

export type Condition = NodeCondition | AlertCondition | EventCondition | JobCondition | AllocCondition | AllocationsCondition | PoolCondition;

/** One of the condition shapes, told apart by their key (alert, event, job, alloc, allocations, pool, else node). */
export const Condition = z.unknown().transform((v, ctx): Condition => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    ctx.addIssue({
      code: 'custom',
      message:
        'expected a condition: {node: ..., status: ...}, {alert: {rule: ...}}, {event: {node: ..., kind: ...}}, {job: ...}, {alloc: job/name, ...}, {allocations: {..., count: n}} or {pool: ..., ready: n}',
    });
    return z.NEVER;
  }
  if ('alert' in v) return forward(AlertCondition, v, ctx);
  if ('event' in v) return forward(EventCondition, v, ctx);
  if ('job' in v) return forward(JobCondition, v, ctx);
  if ('alloc' in v) return forward(AllocCondition, v, ctx);
  if ('allocations' in v) return forward(AllocationsCondition, v, ctx);
  if ('pool' in v) return forward(PoolCondition, v, ctx);
  return forward(NodeCondition, v, ctx);
});

/**
 * One assertion. `expect`: the condition holds at some point within `within` (default 5s) of
 * `at`; `never`: it does not hold at any check during `during`; `always`: it holds at every
 * check during `during`. `at` is scenario time (from the first event's clock start); by
 * default the time of the last event.
 */
export const Assertion = z
  .strictObject({
    expect: Condition.optional(),
    never: Condition.optional(),
    always: Condition.optional(),
    within: SimDuration.optional(),
    during: SimDuration.optional(),
    at: SimDuration.optional(),
  })
  .transform((a, ctx) => {
    const kinds = (['expect', 'never', 'always'] as const).filter((k) => a[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          kinds.length === 0 ? 'an assertion needs expect, never or always' : `an assertion has one of expect, never or always, not ${kinds.join(' and ')}`,
      });
      return z.NEVER;
    }
    const kind = kinds[0]!;
    if (kind === 'expect' && a.during !== undefined)
      ctx.addIssue({ code: 'custom', message: 'expect takes within (how long to wait), not during', path: ['during'] });
    if (kind !== 'expect' && a.within !== undefined)
      ctx.addIssue({ code: 'custom', message: `${kind} takes during (how long to watch), not within`, path: ['within'] });
    if (kind !== 'expect' && a.during === undefined)
      ctx.addIssue({ code: 'custom', message: `${kind} needs during: how long to watch, e.g. 5s`, path: [kind] });
    return { kind, condition: a[kind]!, windowMs: (kind === 'expect' ? a.within : a.during) ?? 5000, at: a.at ?? null };
  });
export type Assertion = z.infer<typeof Assertion>;

/** A host fault aimed at `pool: NAME` lands on this placeholder host until the runner picks a member. */
export const POOL_MEMBER_HOST = (pool: string) => `pool:${pool}`;

/**
 * A fault (`inject: ...`) or an action on the control plane (`action: submit | stop | drain`)
 * at a time: `at` from the start, repeated `repeat` times `every` apart (default once). With
 * `when`, it waits from `at` until that condition holds (at most `within`, default 10s), so a
 * fault can wait for the job it hits to be running; then assertions without `at` start once
 * every event has run. A host fault with `pool: NAME` instead of `host` lands on a READY
 * member of that pool not hit before, drawn from the seed (on a GPU drawn too unless `gpu`).
 */
export const ScenarioEvent = z
  .looseObject({
    at: SimDuration,
    repeat: z.number().int().min(1).max(1000).optional(),
    every: SimDuration.optional(),
    when: Condition.optional(),
    within: SimDuration.optional(),
    pool: z.string({ error: 'expected a pool name such as gpu' }).regex(POOL_NAME, 'expected a pool name such as gpu').optional(),
  })
  .transform((v, ctx) => {
    const { at, repeat, every, when, within, pool, ...rest } = v;
    if ((repeat ?? 1) > 1 && every === undefined)
      ctx.addIssue({ code: 'custom', message: 'repeat needs every: the time between repeats, e.g. 1s', path: ['repeat'] });
    if (within !== undefined && when === undefined)
      ctx.addIssue({ code: 'custom', message: 'within is how long to wait for when: give when too', path: ['within'] });
    const gpuFault = GPU_FAULTS.has(rest.inject as FaultKind);
    const onPool = pool === undefined ? null : { name: pool, randomGpu: gpuFault && !('gpu' in rest) };
    const timing = { at, repeat: repeat ?? 1, every: every ?? 0, when: when ?? null, withinMs: within ?? 10_000, pool: onPool };
    if (pool !== undefined) {
      if ('action' in rest || rest.inject === 'alloc-crash' || rest.inject === 'alloc-unhealthy')
        ctx.addIssue({
          code: 'custom',
          message: 'pool picks a host for a host fault (xid, agent-crash, ...): not for actions or allocation faults',
          path: ['pool'],
        });
      else if ('host' in rest || 'alloc' in rest) ctx.addIssue({ code: 'custom', message: 'give pool or host/alloc, not both', path: ['pool'] });
      else {
        // The member is known only when the fault runs: a placeholder host (and GPU) until then.
        const spec = forward(FaultSpec, { ...rest, host: POOL_MEMBER_HOST(pool), ...(onPool?.randomGpu ? { gpu: 0 } : {}) }, ctx);
        return { ...(spec as FaultSpec), ...timing } as ScenarioStep & EventTiming;
      }
    }
    if ('action' in rest) {
      const action = forward(ActionSpec, rest, ctx);
      return { ...(action as ActionSpec), ...timing } as ScenarioStep & EventTiming;
    }
    const spec = forward(FaultSpec, rest, ctx);
    return { ...(spec as FaultSpec), ...timing } as ScenarioStep & EventTiming;
  });
/** A fault, or an action (which has no `inject`: code that lists the faults of a scenario reads undefined for it). */
export type ScenarioStep = FaultSpec | (ActionSpec & { inject?: undefined });
/** When an event runs. */
export interface EventTiming {
  at: number;
  repeat: number;
  every: number;
  when: Condition | null;
  withinMs: number;
  /** A pool whose member the fault lands on (host and, when randomGpu, gpu are placeholders until then). */
  pool: { name: string; randomGpu: boolean } | null;
}
export type ScenarioEvent = z.infer<typeof ScenarioEvent>;

/** Server settings the runner controls itself and a scenario may not set. */
export const RUNNER_OWNED_SERVER_KEYS = ['listen', 'dataDir', 'database', 'publicUrl', 'tlsCert', 'tlsKey'] as const;

export const ScenarioDoc = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[\w.-]+$/, 'letters, digits, . _ - only')
    .optional(),
  description: z.string().max(4000).optional(),
  fleet: z.strictObject({
    /** Hosts besides any pool's (0: only pools' hosts). */
    nodes: z.number({ error: 'expected the number of simulated hosts' }).int().min(0).max(200),
    mix: z.partialRecord(z.enum(SIM_GPU_MODELS), z.number().min(0).max(1000)).optional(),
    seed: z.union([z.number().int(), z.string().min(1).max(128)]).optional(),
    /** GPUs per host. Default 8. */
    gpus: z.number().int().min(1).max(16).optional(),
  }),
  /**
   * Server config keys (camelCase or kebab-case, as in the server's config file), e.g.
   * heartbeatInterval, metricsInterval, offlineAfter; healthPolicy and alertRules may be a path
   * or an inline document. Defaults: a 200 ms heartbeat, 5 beats (1 s) to OFFLINE, 250 ms metrics.
   */
  server: z.record(z.string(), z.unknown()).optional(),
  /** Agent settings: reconnect backoff and how often the kernel log is read. */
  agent: z
    .strictObject({
      backoffBase: SimDuration.optional(),
      backoffCap: SimDuration.optional(),
      kernelLogPoll: SimDuration.optional(),
    })
    .optional(),
  /** A pools file applied once the fleet is up; the run starts once every pool has min_nodes READY. */
  pools: ScenarioPools.optional(),
  /** The whole run (setup included) is cut off after this. Default 60s. */
  timeout: SimDuration.optional(),
  events: z.array(ScenarioEvent).max(10_000).default([]),
  assert: z.array(Assertion).min(1, 'a scenario needs at least one assertion').max(1000),
});
export type ScenarioDoc = z.infer<typeof ScenarioDoc>;

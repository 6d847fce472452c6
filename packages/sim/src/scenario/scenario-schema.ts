import { z } from 'zod';
import { ALERT_SEVERITIES, ALERT_STATES, GPU_STATES, NODE_STATUSES, REPORTED_VERDICTS } from '@gpufleet/protocol';
import { FaultSpec, SimDuration } from '../faults/fault-spec.js';
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

export type Condition = NodeCondition | AlertCondition | EventCondition;

/** One of the three condition shapes, told apart by their key (alert, event, else node). */
export const Condition = z.unknown().transform((v, ctx): Condition => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    ctx.addIssue({ code: 'custom', message: 'expected a condition: {node: ..., status: ...}, {alert: {rule: ...}} or {event: {node: ..., kind: ...}}' });
    return z.NEVER;
  }
  if ('alert' in v) return forward(AlertCondition, v, ctx);
  if ('event' in v) return forward(EventCondition, v, ctx);
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

/** A fault at a time: `at` from the start, repeated `repeat` times `every` apart (default once). */
export const ScenarioEvent = z
  .looseObject({
    at: SimDuration,
    repeat: z.number().int().min(1).max(1000).optional(),
    every: SimDuration.optional(),
  })
  .transform((v, ctx) => {
    const { at, repeat, every, ...fault } = v;
    if ((repeat ?? 1) > 1 && every === undefined)
      ctx.addIssue({ code: 'custom', message: 'repeat needs every: the time between repeats, e.g. 1s', path: ['repeat'] });
    const spec = forward(FaultSpec, fault, ctx);
    return { ...(spec as FaultSpec), at, repeat: repeat ?? 1, every: every ?? 0 } as FaultSpec & { at: number; repeat: number; every: number };
  });
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
    nodes: z.number({ error: 'expected the number of simulated hosts' }).int().min(1).max(200),
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
  /** The whole run (setup included) is cut off after this. Default 60s. */
  timeout: SimDuration.optional(),
  events: z.array(ScenarioEvent).max(10_000).default([]),
  assert: z.array(Assertion).min(1, 'a scenario needs at least one assertion').max(1000),
});
export type ScenarioDoc = z.infer<typeof ScenarioDoc>;

import { z } from 'zod';

/**
 * Health judgement shared by the server, the CLI and the API: verdicts, GPU states, what an
 * agent's kernel and counter events carry, the events timeline and the health request bodies.
 */

/** What the health policy can conclude about a GPU or a node. */
export const HEALTH_VERDICTS = ['healthy', 'degraded', 'unhealthy'] as const;
export const HealthVerdict = z.enum(HEALTH_VERDICTS);
export type HealthVerdict = z.infer<typeof HealthVerdict>;

/** A verdict as reported: `unknown` where nothing can be said (no readings, offline past the grace). */
export const REPORTED_VERDICTS = [...HEALTH_VERDICTS, 'unknown'] as const;
export const ReportedVerdict = z.enum(REPORTED_VERDICTS);
export type ReportedVerdict = z.infer<typeof ReportedVerdict>;

const RANK: Record<ReportedVerdict, number> = { healthy: 0, unknown: 1, degraded: 2, unhealthy: 3 };

/** Orders verdicts from healthy (0) to unhealthy (3); `unknown` sits between healthy and degraded. */
export function verdictRank(v: ReportedVerdict): number {
  return RANK[v];
}

/** The worse of two verdicts. */
export function worseVerdict<T extends ReportedVerdict>(a: T, b: T): T {
  return RANK[b] > RANK[a] ? b : a;
}

/** Per-GPU state: READY takes new work; CORDONED (by an operator or a rule) and UNHEALTHY do not. */
export const GPU_STATES = ['READY', 'CORDONED', 'UNHEALTHY'] as const;
export const GpuState = z.enum(GPU_STATES);
export type GpuState = z.infer<typeof GpuState>;

/** Who put a node or GPU into its current state, why and when (ISO 8601). */
export const StateChangeView = z.object({
  by: z.string(),
  reason: z.string().nullable(),
  at: z.string(),
  /** Only while a node is DRAINING: when the drain gives up waiting for running work. */
  drainDeadline: z.string().nullable(),
});
export type StateChangeView = z.infer<typeof StateChangeView>;

/** One active finding: a rule that matched and whose verdict sticks until recovery or a clear. */
export const HealthFindingView = z.object({
  /** GPU key (UUID, else PCI bus id, else `#index`); null for the node's own checks. */
  gpu: z.string().nullable(),
  rule: z.string(),
  verdict: HealthVerdict,
  cause: z.string(),
  since: z.string(),
  lastMatchAt: z.string(),
  evidence: z.unknown(),
});
export type HealthFindingView = z.infer<typeof HealthFindingView>;

/** The health of one GPU: its verdict and, when not healthy, the rule and cause behind it. */
export const GpuHealthView = z.object({
  verdict: ReportedVerdict,
  rule: z.string().nullable(),
  cause: z.string().nullable(),
  since: z.string().nullable(),
});
export type GpuHealthView = z.infer<typeof GpuHealthView>;

/** The health of a node: the worst of its GPUs and its own checks, with every active finding. */
export const NodeHealthView = GpuHealthView.extend({
  findings: z.array(HealthFindingView),
});
export type NodeHealthView = z.infer<typeof NodeHealthView>;

// ---- what agents report (AgentEvent.data) ----

/**
 * data of xid / sxid / fallen-off-bus / driver events: one kernel log line as parsed on the host.
 * Loose on purpose: the server reads what it needs and keeps the rest as evidence.
 */
export const KernelEventData = z.looseObject({
  /** XID or SXid number; 79 for the fallen-off-bus forms; null for driver lines without one. */
  code: z.number().int().nullable().optional(),
  /** MIG GPU instance id as printed after GPU-I: (leading zeros dropped). */
  gpuInstance: z.union([z.string(), z.number().int()]).nullable().optional(),
  pid: z.number().int().nullable().optional(),
  process: z.string().nullable().optional(),
  /** The kernel line as read. */
  line: z.string().optional(),
});
export type KernelEventData = z.infer<typeof KernelEventData>;

/**
 * Names of the health counters agents report in counter events (data.counter). The server's
 * policy matches on these; vendors with other counters (AMD RAS blocks) use `amd.ras.<block>`.
 */
export const HEALTH_COUNTERS = [
  'ecc.corrected.volatile',
  'ecc.uncorrected.volatile',
  'ecc.corrected.aggregate',
  'ecc.uncorrected.aggregate',
  'retired_pages.sbe',
  'retired_pages.dbe',
  'retired_pages.pending',
  'remapped_rows.correctable',
  'remapped_rows.uncorrectable',
  'remapped_rows.pending',
  'remapped_rows.failure',
  'throttle.hw_slowdown',
  'throttle.hw_thermal_slowdown',
  'throttle.hw_power_brake_slowdown',
  'throttle.sw_thermal_slowdown',
] as const;

/**
 * data of counter events: a health counter of one GPU that changed between two samples, e.g.
 * `ecc.uncorrected.volatile` 0 -> 2 or `remapped_rows.failure` false -> true (what the agent's
 * counter watch sends; the server also reads `value` in place of `current`).
 */
export const CounterEventData = z.looseObject({
  counter: z.string().min(1).max(128),
  /** null when the first sample already showed the condition. */
  previous: z.union([z.number(), z.boolean()]).nullable().optional(),
  current: z.union([z.number(), z.boolean()]).nullable(),
});
export type CounterEventData = z.infer<typeof CounterEventData>;

// ---- events timeline ----

/** Health entries of the timeline beside the raw agent event kinds (xid, counter, ...). */
export const HEALTH_TIMELINE_KINDS = ['verdict', 'transition', 'match'] as const;

/** One entry of `GET /api/v1/events`: a raw agent event or a health record, newest first. */
export const TimelineEntry = z.object({
  /** `a:<node>:<seq>` for agent events, `h:<n>` for health records. */
  id: z.string(),
  source: z.enum(['agent', 'health']),
  at: z.string(),
  nodeId: z.string(),
  hostname: z.string().nullable(),
  /** GPU key, UUID or PCI bus id the entry is about; null for the node as a whole. */
  gpu: z.string().nullable(),
  /** Agent event kind (xid, sxid, counter, gpu-missing, ...) or verdict / transition / match. */
  kind: z.string(),
  /** XID / SXid number where the entry has one. */
  code: z.number().int().nullable(),
  message: z.string(),
  /** Agent events: the event's data. Health records: rule, from, to, actor, evidence. */
  details: z.unknown(),
});
export type TimelineEntry = z.infer<typeof TimelineEntry>;
export const TimelinePage = z.object({ items: z.array(TimelineEntry) });

// ---- requests ----

const reason = z.string().min(1).max(500);
const duration = z.string().regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as 90s, 15m, 24h or 7d');

export const DrainRequest = z.strictObject({ reason: reason.optional(), timeout: duration.optional() });
export type DrainRequest = z.infer<typeof DrainRequest>;

export const GpuCordonRequest = z.strictObject({ reason: reason.optional() });
export type GpuCordonRequest = z.infer<typeof GpuCordonRequest>;

export const HealthClearRequest = z.strictObject({
  /** GPU UUID, PCI bus id or index; absent clears the node and all its GPUs. */
  gpu: z.string().min(1).max(128).optional(),
  reason,
});
export type HealthClearRequest = z.infer<typeof HealthClearRequest>;

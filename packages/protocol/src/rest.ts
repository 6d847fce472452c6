import { z } from 'zod';
import { ERROR_CODES } from './errors.js';
import { GpuInfo, GpuSample, ToolFailure } from './gpu.js';
import { HostFacts, HostSample } from './host.js';
import { isLabelKey, isLabelValue } from './selector.js';
import { ServerUrlList } from './server-urls.js';
import { GpuHealthView, GpuState, NodeHealthView, ReportedVerdict, StateChangeView } from './health.js';

/** Every 4xx/5xx body: `{ "error": { "code", "message", "details" } }`. */
export const ErrorBody = z.object({
  error: z.object({ code: z.enum(ERROR_CODES), message: z.string(), details: z.unknown().optional() }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export const LabelKey = z.string().refine(isLabelKey, { message: 'not a valid label key (letters, digits, . _ / -; at most 254)' });
export const LabelValue = z.string().refine(isLabelValue, { message: 'not a valid label value (letters, digits, . _ : / + -; at most 254)' });
export const LabelMap = z.record(z.string(), LabelValue).superRefine((m, ctx) => {
  // Checked here rather than as the record's key schema so the message names the bad key.
  for (const key of Object.keys(m)) {
    if (!isLabelKey(key)) ctx.addIssue({ code: 'custom', path: [key], message: `'${key}' is not a valid label key (letters, digits, . _ / -; at most 254)` });
  }
  if (Object.keys(m).length > 64) ctx.addIssue({ code: 'custom', message: 'at most 64 labels' });
});

export const ROLES = ['admin', 'operator', 'viewer'] as const;
export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

/** Durations as people write them: `90s`, `15m`, `24h`, `7d`. */
export const DurationText = z.string().regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as 90s, 15m, 24h or 7d');

export function parseDurationMs(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new Error(`'${text}' is not a duration such as 90s, 15m, 24h or 7d`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

// ---- join tokens ----
export const CreateJoinTokenRequest = z.strictObject({
  description: z.string().max(200).optional(),
  labels: LabelMap.optional(),
  reusable: z.boolean().optional(),
  needsApproval: z.boolean().optional(),
  expiresIn: DurationText.optional(),
  /**
   * Every replica's URL, the one agents try first at the head: the token's server URL becomes
   * the first and the agent fails over between them. Absent: the server's own URL only.
   */
  serverUrls: ServerUrlList.optional(),
});
export type CreateJoinTokenRequest = z.infer<typeof CreateJoinTokenRequest>;

export const JoinTokenView = z.object({
  id: z.string(),
  description: z.string(),
  labels: z.record(z.string(), z.string()),
  reusable: z.boolean(),
  needsApproval: z.boolean(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  uses: z.number().int(),
  state: z.enum(['active', 'expired', 'revoked', 'used']),
});
export type JoinTokenView = z.infer<typeof JoinTokenView>;
export const CreatedJoinToken = JoinTokenView.extend({ token: z.string() });

// ---- enrollment (unauthenticated by API token: the join token is the credential) ----
export const EnrollRequest = z.strictObject({
  tokenId: z.string().min(1).max(64),
  secret: z.string().min(1).max(128),
  nodeId: z.string().startsWith('did:key:z').max(128),
  /** Signature over enrollmentMessage(tokenId, nodeId) by the node's key. */
  signature: z.string().max(256),
  host: HostFacts,
  gpus: z.array(GpuInfo).max(64),
  /** Labels the host asks for (`gpufleet-agent join --label k=v`); the token's labels win. */
  labels: LabelMap.optional(),
});
export type EnrollRequest = z.infer<typeof EnrollRequest>;
export const EnrollResponse = z.object({ nodeId: z.string(), status: z.string(), heartbeatMs: z.number().int() });

// ---- nodes ----
/**
 * OFFLINE is derived from liveness; the others are the node's stored state (see the transition
 * table in server/src/health/node-state-machine.ts).
 */
/** UNREACHABLE: a node managed over SSH (no agent) whose last contact failed; an agent node goes OFFLINE instead. */
export const NODE_STATUSES = ['PENDING', 'READY', 'OFFLINE', 'UNREACHABLE', 'CORDONED', 'DRAINING', 'DRAINED', 'UNHEALTHY', 'DECOMMISSIONED'] as const;
export const NodeStatus = z.enum(NODE_STATUSES);
export type NodeStatus = z.infer<typeof NodeStatus>;

/** The workload allocation holding a GPU (issue 10): its id, its job and its name in the job (`web-0`). */
export const GpuAllocationRef = z.object({ id: z.string(), job: z.string(), name: z.string() });
export type GpuAllocationRef = z.infer<typeof GpuAllocationRef>;

export const GpuView = GpuInfo.extend({
  sample: GpuSample.nullable(),
  /** READY takes new work; CORDONED and UNHEALTHY GPUs do not, while the node's others may. */
  state: GpuState,
  /** Who set the state and why; null while READY. */
  stateChange: StateChangeView.nullable(),
  health: GpuHealthView,
  /** The allocation holding the GPU; null when it is free. Absent only from servers before workloads. */
  allocation: GpuAllocationRef.nullable().optional(),
});
export type GpuView = z.infer<typeof GpuView>;

export const NodeView = z.object({
  id: z.string(),
  hostname: z.string(),
  status: NodeStatus,
  connected: z.boolean(),
  labels: z.record(z.string(), z.string()),
  userLabels: z.record(z.string(), z.string()),
  enrolledAt: z.string(),
  lastSeenAt: z.string().nullable(),
  agentVersion: z.string(),
  simulated: z.boolean(),
  /** How the control plane reaches the node (issue 12): its agent, or SSH; absent from servers before it. */
  mode: z.enum(['agent', 'ssh']).optional(),
  facts: HostFacts,
  gpus: z.array(GpuView),
  host: HostSample.nullable(),
  toolFailures: z.array(ToolFailure),
  /** Who put the node into its status and why; null for a node that never changed state. */
  statusChange: StateChangeView.nullable(),
  health: NodeHealthView,
});
export type NodeView = z.infer<typeof NodeView>;

export const NodeList = z.object({ items: z.array(NodeView), total: z.number().int() });

export const PatchLabelsRequest = z.strictObject({
  set: LabelMap.optional(),
  remove: z.array(LabelKey).max(64).optional(),
});
export type PatchLabelsRequest = z.infer<typeof PatchLabelsRequest>;

export const FleetGpuRow = z.object({
  nodeId: z.string(),
  hostname: z.string(),
  nodeStatus: NodeStatus,
  gpu: GpuView,
  /** The GPU's verdict (also in gpu.health with its rule and cause). */
  health: ReportedVerdict,
  /** The allocation holding the GPU (also in gpu.allocation); null when it is free. The server always sends it. */
  allocation: GpuAllocationRef.nullable().optional(),
});
export type FleetGpuRow = z.infer<typeof FleetGpuRow>;

// ---- API tokens ----
export const CreateApiTokenRequest = z.strictObject({ name: z.string().min(1).max(100), role: Role });
export const ApiTokenView = z.object({
  id: z.string(),
  name: z.string(),
  role: Role,
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
export type ApiTokenView = z.infer<typeof ApiTokenView>;

// ---- metrics ----
export const MetricPoint = z.tuple([z.number(), z.number().nullable()]);
export const MetricSeries = z.object({ name: z.string(), gpu: z.string().nullable(), points: z.array(MetricPoint) });
export const NodeMetrics = z.object({ nodeId: z.string(), series: z.array(MetricSeries) });
export type NodeMetrics = z.infer<typeof NodeMetrics>;

// ---- audit ----
export const AuditRecord = z.object({
  id: z.number().int(),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  result: z.enum(['ok', 'error']),
  details: z.unknown(),
});
export type AuditRecord = z.infer<typeof AuditRecord>;

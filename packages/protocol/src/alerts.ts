import { z } from 'zod';
import { DurationText } from './rest.js';

/**
 * Alerts: the REST shapes of alert instances, rules, history and silences, shared by the
 * server (alert routes) and the CLI (`gpufleet alerts ...`). Times are ISO 8601 here.
 */

export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;
export const AlertSeverity = z.enum(ALERT_SEVERITIES);
export type AlertSeverity = z.infer<typeof AlertSeverity>;

/** pending: the condition holds but not yet for the rule's `for`; firing; resolved: it stopped holding. */
export const ALERT_STATES = ['pending', 'firing', 'resolved'] as const;
export const AlertState = z.enum(ALERT_STATES);
export type AlertState = z.infer<typeof AlertState>;

export const ALERT_RULE_KINDS = ['metric', 'node-offline', 'health', 'xid-count'] as const;
export type AlertRuleKind = (typeof ALERT_RULE_KINDS)[number];

export const RECEIVER_TYPES = ['webhook', 'slack', 'alertmanager'] as const;
export type ReceiverType = (typeof RECEIVER_TYPES)[number];

/**
 * One condition of a silence on an alert's labels: `alertname` (the rule), `severity`,
 * `node` (node id), `hostname`, `gpu` (GPU UUID or PCI bus id) or a rule label.
 * Only equality and inequality: regular expressions from API callers would let one
 * operator stall the server with a pathological pattern.
 */
export const SilenceMatcher = z.strictObject({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'a label name such as alertname, node, hostname, gpu or severity'),
  value: z.string().min(1).max(256),
  op: z.enum(['=', '!=']).optional(),
});
export type SilenceMatcher = z.infer<typeof SilenceMatcher>;

/** POST /api/v1/silences: matchers plus exactly one of `duration` and `endsAt`. */
export const CreateSilenceRequest = z
  .strictObject({
    matchers: z.array(SilenceMatcher).min(1, 'give at least one matcher').max(16),
    duration: DurationText.optional(),
    endsAt: z.iso.datetime({ offset: true }).optional(),
    comment: z.string().trim().min(1, 'a comment saying why is required').max(1000),
  })
  .superRefine((body, ctx) => {
    if ((body.duration === undefined) === (body.endsAt === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['duration'], message: 'give exactly one of duration (such as 2h) and endsAt (ISO 8601)' });
    }
  });
export type CreateSilenceRequest = z.infer<typeof CreateSilenceRequest>;

export const SilenceView = z.object({
  id: z.string(),
  matchers: z.array(SilenceMatcher),
  startsAt: z.string(),
  endsAt: z.string(),
  createdBy: z.string(),
  comment: z.string(),
  state: z.enum(['active', 'expired']),
});
export type SilenceView = z.infer<typeof SilenceView>;

/** One alert instance: a rule for a node (and GPU, for GPU-scoped rules). */
export const AlertView = z.object({
  /** Stable for (rule, node, gpu): the same condition returning reuses it. */
  id: z.string(),
  rule: z.string(),
  kind: z.enum(ALERT_RULE_KINDS),
  severity: AlertSeverity,
  state: AlertState,
  /** Ids of the active silences covering it; silenced alerts keep their state but notify nobody. */
  silencedBy: z.array(z.string()),
  silenced: z.boolean(),
  nodeId: z.string(),
  hostname: z.string(),
  gpu: z.string().nullable(),
  gpuIndex: z.number().int().nullable(),
  labels: z.record(z.string(), z.string()),
  summary: z.string(),
  description: z.string().nullable(),
  value: z.number().nullable(),
  activeAt: z.string(),
  firedAt: z.string().nullable(),
  resolvedAt: z.string().nullable(),
});
export type AlertView = z.infer<typeof AlertView>;

/** A rule as the API shows it (receiver URLs are not shown: they often hold secrets). */
export const AlertRuleView = z.object({
  name: z.string(),
  kind: z.enum(ALERT_RULE_KINDS),
  severity: AlertSeverity,
  /** The condition in words, e.g. `gpu_temp_c > 85`. */
  condition: z.string(),
  for: z.string(),
  selector: z.string(),
  labels: z.record(z.string(), z.string()),
  summary: z.string(),
  receivers: z.array(z.string()),
  pending: z.number().int(),
  firing: z.number().int(),
});
export type AlertRuleView = z.infer<typeof AlertRuleView>;

export const ReceiverView = z.object({
  name: z.string(),
  type: z.enum(RECEIVER_TYPES),
  /** scheme://host[:port] only. */
  target: z.string(),
  sent: z.number().int(),
  failed: z.number().int(),
  lastError: z.string().nullable(),
});
export type ReceiverView = z.infer<typeof ReceiverView>;

/** One state change of an alert instance; `inactive` is a pending alert whose condition stopped. */
export const AlertTransition = z.object({
  at: z.string(),
  alertId: z.string(),
  rule: z.string(),
  severity: AlertSeverity,
  nodeId: z.string(),
  hostname: z.string(),
  gpu: z.string().nullable(),
  from: z.enum(['inactive', ...ALERT_STATES]),
  to: z.enum(['inactive', ...ALERT_STATES]),
  value: z.number().nullable(),
});
export type AlertTransition = z.infer<typeof AlertTransition>;

/** `state` of GET /api/v1/alerts: one of the alert states, or `silenced` (pending/firing under a silence). */
export const ALERT_LIST_STATES = [...ALERT_STATES, 'silenced'] as const;
export type AlertListState = (typeof ALERT_LIST_STATES)[number];

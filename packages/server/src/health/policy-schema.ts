import { z } from 'zod';
import { XID_IMMEDIATE_ACTIONS } from '@gpufleet/protocol';
import { HEALTH_METRIC_NAMES } from './metric-readers.js';

/** What a rule can match: agent event kinds, plus `metric` (GPU samples of every metrics frame). */
export const RULE_KINDS = ['xid', 'sxid', 'fallen-off-bus', 'driver', 'counter', 'metric', 'gpu-missing', 'tool-failure'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

/** Kinds that carry a kernel-line code (XID / SXid number) in data.code. */
export const CODED_KINDS: readonly RuleKind[] = ['xid', 'sxid', 'fallen-off-bus', 'driver'];
/** Agent event kinds that can end an event-recovered finding. */
export const RECOVERY_EVENTS = ['tool-recovered', 'gpu-returned'] as const;

export const RULE_ACTIONS = ['cordon-gpu', 'cordon-node', 'drain-node', 'alert'] as const;
export type RuleAction = (typeof RULE_ACTIONS)[number];

const duration = z.string().regex(/^\d+(ms|s|m|h|d)$/, 'must be a duration such as 90s, 10m, 1h or 7d');

const Match = z.strictObject({
  kind: z.enum(RULE_KINDS),
  /** XID / SXid numbers (kernel kinds). */
  codes: z.array(z.number().int().min(0).max(1_000_000)).min(1).max(500).optional(),
  /** XIDs whose NVIDIA immediate action in the catalog is one of these (kind xid). */
  immediateActions: z.array(z.enum(XID_IMMEDIATE_ACTIONS)).min(1).optional(),
  /** The catalog's severity of the line (kinds xid and sxid): info, warning or critical. */
  severities: z
    .array(z.enum(['info', 'warning', 'critical']))
    .min(1)
    .optional(),
  /** Counter name (kind counter), e.g. ecc.uncorrected.volatile. */
  counter: z
    .string()
    .regex(/^[a-z0-9_.-]{1,128}$/, 'must be a counter name such as ecc.uncorrected.volatile')
    .optional(),
  /** Metric name (kind metric). */
  metric: z.enum(HEALTH_METRIC_NAMES as [string, ...string[]]).optional(),
  above: z.number().finite().optional(),
  below: z.number().finite().optional(),
  /** Regular expression the event's message must match (event kinds). */
  message: z.string().min(1).max(500).optional(),
});

const Recover = z.union([
  z.literal('never'),
  z.strictObject({ after: duration }),
  z.strictObject({ for: duration, above: z.number().finite().optional(), below: z.number().finite().optional() }),
  z.strictObject({ on: z.enum(RECOVERY_EVENTS) }),
]);

const Rule = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 lower-case letters, digits, . _ - (starting with a letter or digit)'),
  description: z.string().min(1).max(2000),
  match: Match,
  window: duration.optional(),
  count: z.number().int().min(1).max(10_000).optional(),
  for: duration.optional(),
  verdict: z.enum(['healthy', 'degraded', 'unhealthy']),
  scope: z.enum(['gpu', 'node']).default('gpu'),
  actions: z.array(z.enum(RULE_ACTIONS)).max(4).default([]),
  recover: Recover.default('never'),
});

/**
 * The health policy file. Checks beyond the field types (which keys go with which kind, window
 * with count, metric thresholds) are added as issues with a path, so the loader can name the
 * rule and the field of every problem.
 */
export const HealthPolicyFile = z
  .strictObject({
    version: z.literal(1),
    rules: z.array(Rule).min(1).max(500),
  })
  .superRefine((doc, ctx) => {
    const seen = new Set<string>();
    doc.rules.forEach((r, i) => {
      const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path: ['rules', i, ...path], message });
      if (seen.has(r.name)) issue(['name'], `'${r.name}' is used by an earlier rule: names must be unique`);
      seen.add(r.name);
      const m = r.match;
      const k = m.kind;
      if (m.codes && !CODED_KINDS.includes(k)) issue(['match', 'codes'], `codes apply to ${CODED_KINDS.join(', ')}, not ${k}`);
      if (m.immediateActions && k !== 'xid') issue(['match', 'immediateActions'], `immediateActions apply to kind xid, not ${k}`);
      if (m.severities && k !== 'xid' && k !== 'sxid') issue(['match', 'severities'], `severities apply to kinds xid and sxid, not ${k}`);
      if (k === 'counter' && !m.counter) issue(['match', 'counter'], 'kind counter needs a counter name');
      if (m.counter && k !== 'counter') issue(['match', 'counter'], `counter applies to kind counter, not ${k}`);
      if (k === 'metric' && !m.metric) issue(['match', 'metric'], 'kind metric needs a metric name');
      if (m.metric && k !== 'metric') issue(['match', 'metric'], `metric applies to kind metric, not ${k}`);
      if (k === 'metric' && (m.above === undefined) === (m.below === undefined)) issue(['match'], 'a metric rule needs exactly one of above and below');
      if (k === 'metric' && r.scope !== 'gpu') issue(['scope'], 'metric rules judge one GPU at a time: scope gpu');
      if (k !== 'metric' && k !== 'counter' && (m.above !== undefined || m.below !== undefined))
        issue(['match', m.above !== undefined ? 'above' : 'below'], `thresholds apply to kinds metric and counter, not ${k}`);
      if (k === 'counter' && m.below !== undefined) issue(['match', 'below'], 'a counter rule matches increases: use above (default 0)');
      if (m.message !== undefined) {
        if (k === 'metric') issue(['match', 'message'], 'message applies to events, not metrics');
        else {
          try {
            new RegExp(m.message);
          } catch (err) {
            issue(['match', 'message'], `is not a valid regular expression: ${(err as Error).message}`);
          }
        }
      }
      if ((r.window === undefined) !== (r.count === undefined))
        issue([r.window === undefined ? 'window' : 'count'], 'window and count go together ("count matches within window")');
      if (r.window !== undefined && k === 'metric') issue(['window'], 'a metric rule uses for, not window/count');
      if (r.for !== undefined && k !== 'metric') issue(['for'], `for applies to metric rules, not ${k} (use window and count)`);
      if (r.verdict === 'healthy' && r.actions.some((a) => a !== 'alert')) issue(['actions'], 'a healthy verdict cannot cordon or drain');
      if (r.verdict === 'healthy' && r.recover !== 'never') issue(['recover'], 'a healthy verdict has nothing to recover from');
      if (r.actions.includes('cordon-gpu') && r.scope !== 'gpu') issue(['actions'], 'cordon-gpu needs scope gpu');
      if (new Set(r.actions).size !== r.actions.length) issue(['actions'], 'an action is listed twice');
      const rec = r.recover;
      if (typeof rec === 'object' && 'for' in rec) {
        if (k !== 'metric') issue(['recover', 'for'], 'recover.for (the metric back within bounds) applies to metric rules; use recover.after');
        if (rec.above !== undefined && rec.below !== undefined) issue(['recover'], 'give at most one of above and below');
        if (m.above !== undefined && rec.above !== undefined) issue(['recover', 'above'], 'the rule fires above a threshold: recovery is below one');
        if (m.below !== undefined && rec.below !== undefined) issue(['recover', 'below'], 'the rule fires below a threshold: recovery is above one');
      }
      if (typeof rec === 'object' && 'on' in rec && k === 'metric') issue(['recover', 'on'], 'a metric rule recovers with recover.for');
    });
  });
export type HealthPolicyFile = z.infer<typeof HealthPolicyFile>;
export type HealthRuleSpec = HealthPolicyFile['rules'][number];
export type RecoverSpec = HealthRuleSpec['recover'];

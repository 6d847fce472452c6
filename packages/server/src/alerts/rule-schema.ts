import { z } from 'zod';
import { AlertSeverity, RECEIVER_TYPES } from '@gpufleet/protocol';
import { METRIC_NAMES } from './metric-readers.js';

/**
 * The alert rules file as written (YAML), before compilation. Every object is strict: an
 * unknown key is a typo until proven otherwise, and it stops start-up naming itself.
 */

const DURATION_TEXT = 'a duration such as 30s, 5m, 1h or 7d (a bare number has no unit)';
const Duration = z.string({ error: DURATION_TEXT }).regex(/^\d+(ms|s|m|h|d)$/, DURATION_TEXT);
const Name = z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,127}$/, 'a name of letters, digits, _ . - starting with a letter (at most 128)');

const common = {
  name: Name,
  severity: AlertSeverity,
  /** Template: `{{hostname}}`, `{{gpu}}`, `{{value}}`... (see the shipped file). */
  summary: z.string().min(1).max(1000),
  description: z.string().max(4000).optional(),
  /** Becomes the `runbook_url` annotation. */
  runbook: z.string().max(2000).optional(),
  /** Extra labels on every alert of the rule (routing keys for Alertmanager, team names). */
  labels: z.record(z.string(), z.string().max(256)).optional(),
  /** Kubernetes-style label selector over node labels; empty or absent: every node. */
  selector: z.string().max(4096).optional(),
  /** Receiver names; absent: the file's defaultReceivers. */
  receivers: z.array(z.string().max(128)).max(32).optional(),
};

export const RawMetricRule = z.strictObject({
  kind: z.literal('metric'),
  ...common,
  metric: z.enum(METRIC_NAMES as [string, ...string[]]),
  above: z.number().optional(),
  below: z.number().optional(),
  for: Duration.optional(),
});

export const RawOfflineRule = z.strictObject({
  kind: z.literal('node-offline'),
  ...common,
  for: Duration,
});

export const RawHealthRule = z.strictObject({
  kind: z.literal('health'),
  ...common,
  verdict: z.enum(['degraded', 'unhealthy']),
  /** gpu: GPU verdicts only; node: node verdicts only; any (default): both. */
  scope: z.enum(['gpu', 'node', 'any']).optional(),
  for: Duration.optional(),
});

export const RawXidCountRule = z.strictObject({
  kind: z.literal('xid-count'),
  ...common,
  /** Fires when at least this many matching events fall within `window`. */
  count: z.number().int().min(1).max(1000),
  window: Duration,
  /** Only these XID (or SXid) codes; absent: any code. */
  codes: z.array(z.number().int().min(0).max(65535)).min(1).max(256).optional(),
  /** Which agent event kinds count (fallen-off-bus counts as code 79); default [xid]. */
  events: z
    .array(z.enum(['xid', 'sxid', 'fallen-off-bus']))
    .min(1)
    .max(3)
    .optional(),
  /** Count per GPU (default) or per node. */
  per: z.enum(['gpu', 'node']).optional(),
});

export const RULE_SCHEMAS = {
  metric: RawMetricRule,
  'node-offline': RawOfflineRule,
  health: RawHealthRule,
  'xid-count': RawXidCountRule,
} as const;

export type RawRule = z.infer<(typeof RULE_SCHEMAS)[keyof typeof RULE_SCHEMAS]>;

export const RawReceiver = z.strictObject({
  name: Name,
  type: z.enum(RECEIVER_TYPES),
  /** webhook/slack: the URL posted to; alertmanager: its base URL (`/api/v2/alerts` is added). `${VAR}` reads the environment. */
  url: z.string().min(1).max(2000),
  /** Extra HTTP headers (Authorization...); values may use `${VAR}`. */
  headers: z.record(z.string(), z.string().max(4096)).optional(),
  /** Also send a message when the alert resolves (default true). */
  sendResolved: z.boolean().optional(),
  /** alertmanager: how often firing alerts are sent again (default 1m). */
  resendInterval: Duration.optional(),
  /** Per request (default 10s). */
  timeout: Duration.optional(),
  retry: z
    .strictObject({
      /** Tries in all, the first included (default 5). */
      attempts: z.number().int().min(1).max(20).optional(),
      /** Wait before the second try, doubled for each next one (default 1s). */
      initialBackoff: Duration.optional(),
      /** The longest wait between tries (default 30s). */
      maxBackoff: Duration.optional(),
    })
    .optional(),
});
export type RawReceiver = z.infer<typeof RawReceiver>;

export const RawRulesFile = z.strictObject({
  version: z.literal(1).optional(),
  receivers: z.array(z.unknown()).max(64).optional(),
  /** Receivers of rules that name none. */
  defaultReceivers: z.array(z.string().max(128)).max(32).optional(),
  rules: z.array(z.unknown()).max(1000),
});

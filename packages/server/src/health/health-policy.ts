import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { FleetError, parseDurationMs, type HealthVerdict } from '@gpufleet/protocol';
import { HEALTH_METRICS, type HealthMetricName, type MetricReader } from './metric-readers.js';
import { HealthPolicyFile, type HealthRuleSpec, type RuleAction, type RuleKind } from './policy-schema.js';

/** The policy file that runs unless the server config names another. */
export const DEFAULT_HEALTH_POLICY_FILE = fileURLToPath(new URL('../../policy/default-health-policy.yaml', import.meta.url));

/** How a finding of a rule ends by itself (besides an operator's clear). */
export type Recovery =
  | { type: 'never' }
  /** No new match for this long. */
  | { type: 'after'; ms: number }
  /** The metric back within bounds (the rule's threshold unless one is given) for this long. */
  | { type: 'metric'; forMs: number; above: number | null; below: number | null }
  /** An agent event of this kind about the same GPU or node. */
  | { type: 'on'; event: string };

/** A rule ready to evaluate: durations in ms, sets for codes, the metric reader, the regex. */
export interface CompiledRule {
  readonly name: string;
  readonly description: string;
  readonly kind: RuleKind;
  readonly verdict: HealthVerdict;
  readonly scope: 'gpu' | 'node';
  readonly actions: readonly RuleAction[];
  readonly codes: ReadonlySet<number> | null;
  readonly immediateActions: ReadonlySet<string> | null;
  readonly severities: ReadonlySet<string> | null;
  readonly counter: string | null;
  readonly metric: HealthMetricName | null;
  readonly reader: MetricReader | null;
  readonly above: number | null;
  readonly below: number | null;
  readonly message: RegExp | null;
  readonly windowMs: number | null;
  readonly count: number | null;
  /** Metric rules: how long the condition must hold (0: the first sample). */
  readonly forMs: number;
  readonly recover: Recovery;
  /** Position among the policy's metric rules (metric rules only; -1 otherwise). */
  readonly metricIndex: number;
  /** The rule as written, for GET /api/v1/health/policy. */
  readonly spec: HealthRuleSpec;
}

/** A validated, compiled policy: rules by event kind and the metric rules, in file order. */
export interface HealthPolicy {
  /** The file it came from (or `<inline>`). */
  readonly source: string;
  readonly rules: readonly CompiledRule[];
  readonly metricRules: readonly CompiledRule[];
  /** Rules per agent event kind (xid, counter, ...); metric rules are not here. */
  readonly byEventKind: ReadonlyMap<string, readonly CompiledRule[]>;
  /** Agent event kinds that end some rule's findings (recover.on). */
  readonly recoveryEvents: ReadonlySet<string>;
  rule(name: string): CompiledRule | undefined;
}

function compileRule(spec: HealthRuleSpec, metricIndex: number): CompiledRule {
  const m = spec.match;
  const rec = spec.recover;
  let recover: Recovery;
  if (rec === 'never') recover = { type: 'never' };
  else if ('after' in rec) recover = { type: 'after', ms: parseDurationMs(rec.after) };
  else if ('on' in rec) recover = { type: 'on', event: rec.on };
  else recover = { type: 'metric', forMs: parseDurationMs(rec.for), above: rec.above ?? null, below: rec.below ?? null };
  return {
    name: spec.name,
    description: spec.description,
    kind: m.kind,
    verdict: spec.verdict,
    scope: spec.scope,
    actions: spec.actions,
    codes: m.codes ? new Set(m.codes) : null,
    immediateActions: m.immediateActions ? new Set(m.immediateActions) : null,
    severities: m.severities ? new Set(m.severities) : null,
    counter: m.counter ?? null,
    metric: (m.metric as HealthMetricName | undefined) ?? null,
    reader: m.metric ? HEALTH_METRICS[m.metric as HealthMetricName] : null,
    above: m.above ?? (m.kind === 'counter' ? 0 : null),
    below: m.below ?? null,
    message: m.message ? new RegExp(m.message) : null,
    windowMs: spec.window ? parseDurationMs(spec.window) : null,
    count: spec.count ?? null,
    forMs: spec.for ? parseDurationMs(spec.for) : 0,
    recover,
    metricIndex,
    spec,
  };
}

/** Names the rule and field of a validation issue: `rule 'hot' (rules[2]) match.above`. */
function where(doc: unknown, path: ReadonlyArray<PropertyKey>): string {
  if (path[0] !== 'rules' || typeof path[1] !== 'number') return path.length ? path.map(String).join('.') : '(top level)';
  const raw = (doc as { rules?: Array<{ name?: unknown }> }).rules?.[path[1]];
  const name = typeof raw?.name === 'string' ? `rule '${raw.name}'` : 'rule';
  const field = path.slice(2).map(String).join('.');
  return `${name} (rules[${path[1]}])${field ? ` ${field}` : ''}`;
}

/** Validates and compiles a policy document (already parsed from YAML). */
export function compileHealthPolicy(doc: unknown, source = '<inline>'): HealthPolicy {
  const parsed = HealthPolicyFile.safeParse(doc);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 5).map((i) => `${where(doc, i.path)}: ${i.message}`);
    throw new FleetError('invalid_argument', `health policy ${source}: ${problems.join('; ')}`, {
      details: { source, issues: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })) },
    });
  }
  let metricCount = 0;
  const rules = parsed.data.rules.map((spec) => compileRule(spec, spec.match.kind === 'metric' ? metricCount++ : -1));
  const byEventKind = new Map<string, CompiledRule[]>();
  for (const r of rules) {
    if (r.kind === 'metric') continue;
    byEventKind.set(r.kind, [...(byEventKind.get(r.kind) ?? []), r]);
  }
  const byName = new Map(rules.map((r) => [r.name, r]));
  return {
    source,
    rules,
    metricRules: rules.filter((r) => r.kind === 'metric'),
    byEventKind,
    recoveryEvents: new Set(rules.flatMap((r) => (r.recover.type === 'on' ? [r.recover.event] : []))),
    rule: (name) => byName.get(name),
  };
}

/** Parses policy YAML text; a bad document throws a FleetError naming the rule and field. */
export function parseHealthPolicy(text: string, source = '<inline>'): HealthPolicy {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new FleetError('invalid_argument', `health policy ${source} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new FleetError('invalid_argument', `health policy ${source} must be a YAML mapping with version: 1 and rules: [...]`);
  }
  return compileHealthPolicy(doc, source);
}

/** Reads the policy file (the shipped default when `path` is null). Called once at start-up. */
export function loadHealthPolicy(path: string | null): HealthPolicy {
  const file = path ?? DEFAULT_HEALTH_POLICY_FILE;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FleetError('invalid_argument', `cannot read health policy ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseHealthPolicy(text, file);
}

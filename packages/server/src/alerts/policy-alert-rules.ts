import { FleetError, parseSelector } from '@gpufleet/protocol';
import type { AlertRuleSet, HealthRule } from './alert-rules.js';
import { compileTemplate } from './template.js';

/** What this needs of a health policy rule (health/health-policy.ts CompiledRule fits). */
export interface PolicyRuleInfo {
  readonly name: string;
  readonly description: string;
  readonly verdict: 'healthy' | 'degraded' | 'unhealthy';
  readonly scope: 'gpu' | 'node';
  readonly actions: readonly string[];
}

const KNOWN = ['rule', 'severity', 'node', 'hostname', 'value', 'for', 'target', 'gpu', 'gpuKey', 'verdict', 'cause', 'healthRule'];
const SUMMARY = compileTemplate('{{target}} on {{hostname}} is {{verdict}}: {{cause}}', KNOWN);

/** How the health policy's verdicts page (policyAlertPlan). */
export interface PolicyAlertPlan {
  /** Alert rules of their own, for policy rules with the `alert` action whose verdict no rules-file `kind: health` rule pages. */
  own: HealthRule[];
  /** Policy rules without the `alert` action: their verdicts page nobody, whatever the rules file says. */
  quiet: string[];
}

/**
 * How the health policy's `alert` action is honoured. The action is the switch: a verdict
 * decided by a policy rule without it pages nobody (`quiet`). A verdict decided by a rule
 * with it pages through the rules file's `kind: health` rule for that verdict (GpuUnhealthy,
 * GpuDegraded in the default file), so the alertname operators route on stays stable and
 * the policy rule travels as the alert's cause; where the file has no such rule, the policy
 * rule gets an alert rule of its own (`own`), named after it, numbered after the file's,
 * severity by verdict (unhealthy: critical, degraded: warning), to the file's default
 * receivers. Such a rule may not share a name with a rules-file rule: both would be the same
 * `alertname`.
 */
export function policyAlertPlan(policy: { rules: readonly PolicyRuleInfo[] }, file: AlertRuleSet): PolicyAlertPlan {
  const taken = new Set(file.rules.map((r) => r.name));
  const fileHealth = file.rules.filter((r): r is HealthRule => r.kind === 'health');
  const own: HealthRule[] = [];
  const quiet: string[] = [];
  for (const p of policy.rules) {
    if (!p.actions.includes('alert')) {
      quiet.push(p.name);
      continue;
    }
    if (p.verdict === 'healthy') continue;
    if (fileHealth.some((r) => r.verdict === p.verdict && (r.scope === 'any' || r.scope === p.scope))) continue;
    if (taken.has(p.name)) {
      throw new FleetError(
        'invalid_argument',
        `health policy rule '${p.name}' has the alert action, and alert rules ${file.source} has a rule of the same name: rename one (both would be alertname '${p.name}')`,
        { details: { rule: p.name } },
      );
    }
    own.push({
      kind: 'health',
      index: file.rules.length + own.length,
      name: p.name,
      severity: p.verdict === 'unhealthy' ? 'critical' : 'warning',
      forMs: 0,
      labels: {},
      selector: parseSelector(''),
      summary: SUMMARY,
      description: compileTemplate(p.description.replace(/\{\{|\}\}/g, ''), KNOWN),
      runbook: null,
      receivers: file.defaultReceivers ?? [],
      condition: `health policy rule '${p.name}' (action alert)`,
      perGpu: p.scope === 'gpu',
      verdict: p.verdict,
      scope: p.scope,
    });
  }
  return { own, quiet };
}

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

/**
 * The alert rules behind the health policy's `alert` action: one per policy rule that has it,
 * named after that rule, numbered after the rules file's. The alert engine fires an instance
 * when such a finding starts (HealthEngine onAlert) and resolves it when the finding ends.
 * Severity follows the verdict (unhealthy: critical, degraded: warning); receivers are the
 * file's default receivers. A policy rule that shares a name with a rules-file rule is refused:
 * both would be the same `alertname`.
 */
export function policyAlertRules(policy: { rules: readonly PolicyRuleInfo[] }, file: AlertRuleSet): HealthRule[] {
  const taken = new Set(file.rules.map((r) => r.name));
  const out: HealthRule[] = [];
  for (const p of policy.rules) {
    if (!p.actions.includes('alert') || p.verdict === 'healthy') continue;
    if (taken.has(p.name)) {
      throw new FleetError('invalid_argument', `health policy rule '${p.name}' has the alert action, and alert rules ${file.source} has a rule of the same name: rename one (both would be alertname '${p.name}')`, { details: { rule: p.name } });
    }
    out.push({
      kind: 'health',
      index: file.rules.length + out.length,
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
  return out;
}

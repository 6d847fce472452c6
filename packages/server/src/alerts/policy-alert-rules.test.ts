import { describe, expect, it } from 'vitest';
import { parseAlertRules } from './alert-rules.js';
import { policyAlertPlan, type PolicyRuleInfo } from './policy-alert-rules.js';

const FILE = parseAlertRules(
  `rules:\n  - {name: HotGpu, kind: metric, metric: gpu_temp_c, above: 90, severity: warning, summary: "hot"}\nreceivers:\n  - {name: hook, type: webhook, url: "http://127.0.0.1:9/x"}\ndefaultReceivers: [hook]\n`,
  'test.yaml',
  {},
);
const rule = (over: Partial<PolicyRuleInfo>): PolicyRuleInfo => ({
  name: 'xid-fatal',
  description: 'fatal {{XID}}',
  verdict: 'unhealthy',
  scope: 'gpu',
  actions: ['cordon-gpu', 'alert'],
  ...over,
});

describe('policyAlertPlan', () => {
  it('makes one alert rule per policy rule with the alert action, numbered after the file, to its default receivers', () => {
    const { own: rules, quiet } = policyAlertPlan(
      {
        rules: [
          rule({}),
          rule({ name: 'ecc-degraded', verdict: 'degraded', scope: 'node', actions: ['alert'] }),
          rule({ name: 'quiet', actions: ['cordon-gpu'] }),
        ],
      },
      FILE,
    );
    expect(rules.map((r) => [r.name, r.index, r.severity, r.perGpu, r.scope, r.verdict])).toEqual([
      ['xid-fatal', 1, 'critical', true, 'gpu', 'unhealthy'],
      ['ecc-degraded', 2, 'warning', false, 'node', 'degraded'],
    ]);
    expect(quiet).toEqual(['quiet']);
    expect(rules[0]!.receivers).toEqual(['hook']);
    expect(rules[0]!.condition).toBe("health policy rule 'xid-fatal' (action alert)");
    // Braces in a policy description are text, not template variables.
    expect(rules[0]!.description!.render({}, {})).toBe('fatal XID');
  });

  it('refuses a policy rule named like a rules-file rule, naming both', () => {
    expect(() => policyAlertPlan({ rules: [rule({ name: 'HotGpu' })] }, FILE)).toThrow(
      /health policy rule 'HotGpu' has the alert action, and alert rules test.yaml has a rule of the same name/,
    );
  });

  it('leaves out healthy verdicts (nothing to page about) and policies without the action', () => {
    expect(policyAlertPlan({ rules: [rule({ verdict: 'healthy' }), rule({ actions: [] })] }, FILE)).toEqual({ own: [], quiet: ['xid-fatal'] });
  });

  it('pages through the rules file health rule for the verdict where it has one, so the alertname stays stable', () => {
    const withHealth = parseAlertRules(
      `rules:\n  - {name: GpuUnhealthy, kind: health, verdict: unhealthy, severity: critical, summary: "x"}\n  - {name: NodeDegraded, kind: health, verdict: degraded, scope: node, severity: warning, summary: "y"}\n`,
      'h.yaml',
      {},
    );
    const plan = policyAlertPlan(
      {
        rules: [
          rule({}),
          rule({ name: 'gpu-warm', verdict: 'degraded', scope: 'gpu', actions: ['alert'] }),
          rule({ name: 'node-warm', verdict: 'degraded', scope: 'node', actions: ['alert'] }),
        ],
      },
      withHealth,
    );
    // xid-fatal pages as GpuUnhealthy, node-warm as NodeDegraded; gpu-warm has no file rule for a GPU's degraded verdict.
    expect(plan.own.map((r) => r.name)).toEqual(['gpu-warm']);
    expect(plan.quiet).toEqual([]);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { resolveServerConfig } from '../config/server-config.js';
import { DEFAULT_ALERT_RULES_FILE, loadAlertRules, parseAlertRules } from './alert-rules.js';

const parse = (yaml: string, env: Record<string, string> = {}) => parseAlertRules(yaml, 'rules.yaml', env);

/** A rules file with one rule (given as YAML lines under `- `) and optional receivers. */
function oneRule(rule: string, head = ''): string {
  const body = rule
    .trim()
    .split('\n')
    .map((l, i) => (i === 0 ? `  - ${l.trim()}` : `    ${l.trim()}`))
    .join('\n');
  return `${head}\nrules:\n${body}\n`;
}

const TEMP = `name: Hot
kind: metric
metric: gpu_temp_c
above: 85
for: 5m
severity: warning
summary: "GPU {{gpu}} on {{hostname}} at {{value}}"`;

describe('the shipped rules file', () => {
  it('loads with the five default rules and no receivers', () => {
    const set = loadAlertRules(null, {});
    expect(set.source).toBe(DEFAULT_ALERT_RULES_FILE);
    expect(set.receivers).toEqual([]);
    const byName = Object.fromEntries(set.rules.map((r) => [r.name, r]));
    expect(Object.keys(byName)).toEqual(['GpuTemperatureHigh', 'NodeOffline', 'GpuUnhealthy', 'GpuDegraded', 'XidErrorsRepeating']);
    expect(byName.GpuTemperatureHigh).toMatchObject({
      kind: 'metric',
      metric: 'gpu_temp_c',
      op: 'above',
      threshold: 85,
      forMs: 300_000,
      severity: 'warning',
      perGpu: true,
    });
    expect(byName.NodeOffline).toMatchObject({ kind: 'node-offline', forMs: 300_000, severity: 'critical', perGpu: false });
    expect(byName.GpuUnhealthy).toMatchObject({ kind: 'health', verdict: 'unhealthy', scope: 'any', severity: 'critical' });
    expect(byName.GpuDegraded).toMatchObject({ kind: 'health', verdict: 'degraded', severity: 'warning' });
    expect(byName.XidErrorsRepeating).toMatchObject({ kind: 'xid-count', count: 3, windowMs: 600_000, codes: null, severity: 'warning' });
  });
});

describe('the alertRules config key', () => {
  it('defaults to null (the shipped file) and resolves a given path from flag, env or file', () => {
    expect(resolveServerConfig({}).alertRules).toBeNull();
    expect(resolveServerConfig({ flags: { alertRules: 'conf/alerts.yaml' } }).alertRules).toBe(join(process.cwd(), 'conf/alerts.yaml'));
    expect(resolveServerConfig({ env: { GPUFLEET_ALERT_RULES: '/etc/gpufleet/alerts.yaml' } }).alertRules).toBe('/etc/gpufleet/alerts.yaml');
    expect(() => resolveServerConfig({ flags: { alertRules: 42 } })).toThrow(/'alert-rules': expected text/);
  });
});

describe('parsing good files', () => {
  it('compiles every kind with defaults, receivers, env expansion and selectors', () => {
    const set = parse(
      `
version: 1
receivers:
  - name: slack
    type: slack
    url: \${SLACK_URL}
  - name: am
    type: alertmanager
    url: http://am.example:9093/
    resendInterval: 30s
    retry: {attempts: 3, initialBackoff: 200ms, maxBackoff: 2s}
  - name: hook
    type: webhook
    url: https://hooks.example/x
    headers: {Authorization: "Bearer \${HOOK_TOKEN}"}
    sendResolved: false
defaultReceivers: [slack]
rules:
  - name: Hot
    kind: metric
    metric: gpu_temp_c
    above: 85
    severity: warning
    summary: "{{gpu}} {{value}} {{threshold}}{{unit}} {{labels.region}}"
    selector: region in (eu,us)
    labels: {team: infra}
  - name: IdleNode
    kind: metric
    metric: cpu_pct
    below: 1
    for: 1h
    severity: info
    summary: "{{hostname}} idle"
    receivers: [am, hook]
  - name: Off
    kind: node-offline
    for: 2m
    severity: critical
    summary: "{{hostname}} offline {{offlineFor}}"
  - name: Sick
    kind: health
    verdict: unhealthy
    scope: node
    severity: critical
    summary: "{{cause}}"
  - name: Xid79
    kind: xid-count
    count: 1
    window: 1h
    codes: [79, 48]
    events: [xid, fallen-off-bus]
    per: node
    severity: critical
    summary: "{{count}} {{codes}} {{lastCode}}"
`,
      { SLACK_URL: 'https://hooks.slack.com/services/T/B/secret', HOOK_TOKEN: 'tok' },
    );
    const [slack, am, hook] = set.receivers;
    expect(slack).toMatchObject({
      type: 'slack',
      url: 'https://hooks.slack.com/services/T/B/secret',
      sendResolved: true,
      attempts: 5,
      initialBackoffMs: 1000,
      maxBackoffMs: 30_000,
      timeoutMs: 10_000,
      resendIntervalMs: 60_000,
    });
    expect(am).toMatchObject({ url: 'http://am.example:9093', resendIntervalMs: 30_000, attempts: 3, initialBackoffMs: 200, maxBackoffMs: 2000 });
    expect(hook).toMatchObject({ headers: { Authorization: 'Bearer tok' }, sendResolved: false });
    const [hot, idle, off, sick, xid] = set.rules;
    expect(hot).toMatchObject({ receivers: ['slack'], labels: { team: 'infra' }, forMs: 0, condition: 'gpu_temp_c > 85' });
    expect(hot!.selector.requirements).toEqual([{ key: 'region', op: 'in', values: ['eu', 'us'] }]);
    expect(hot!.summary.render({ gpu: '3', value: '90', threshold: '85', unit: '°C' }, { region: 'eu' })).toBe('3 90 85°C eu');
    expect(idle).toMatchObject({ kind: 'metric', op: 'below', threshold: 1, forMs: 3_600_000, receivers: ['am', 'hook'], perGpu: false });
    expect(off).toMatchObject({ kind: 'node-offline', forMs: 120_000 });
    expect(sick).toMatchObject({ kind: 'health', scope: 'node', perGpu: false, condition: 'node verdict unhealthy' });
    expect(xid).toMatchObject({ kind: 'xid-count', count: 1, windowMs: 3_600_000, perGpu: false });
    expect(xid!.kind === 'xid-count' && [...xid.codes!]).toEqual([79, 48]);
    expect(xid!.kind === 'xid-count' && [...xid.events]).toEqual(['xid', 'fallen-off-bus']);
  });

  it('takes an empty rules list', () => {
    expect(parse('rules: []').rules).toEqual([]);
  });
});

describe('refusing bad files, naming the rule and field', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['not YAML', 'rules: [\n  - {', /not valid YAML/],
    ['a list at the top', '- a\n- b', /must be a YAML mapping/],
    ['no rules key', 'receivers: []', /rules\.yaml: field 'rules': /],
    ['an unknown top-level key', 'rules: []\nrulez: []', /unknown key 'rulez'/],
    ['a rule that is not a mapping', 'rules:\n  - just text', /rules\[0\]\): must be a mapping/],
    ['a rule without kind', oneRule('name: A\nseverity: info\nsummary: x'), /rule 'A' \(rules\[0\]\) field 'kind': missing/],
    [
      'an unknown kind',
      oneRule('name: A\nkind: gauge\nseverity: info\nsummary: x'),
      /field 'kind': 'gauge' is not a rule kind: one of metric, node-offline, health, xid-count/,
    ],
    ['an unknown key in a rule', oneRule(`${TEMP}\nthreshhold: 3`), /rule 'Hot' \(rules\[0\]\): unknown key 'threshhold'/],
    ['a bad severity', oneRule(TEMP.replace('severity: warning', 'severity: page')), /rule 'Hot'.*field 'severity'/],
    ['a bad rule name', oneRule(TEMP.replace('name: Hot', 'name: "hot rule!"')), /field 'name'/],
    ['an unknown metric', oneRule(TEMP.replace('gpu_temp_c', 'gpu_tmp')), /rule 'Hot'.*field 'metric'/],
    ['both above and below', oneRule(`${TEMP}\nbelow: 10`), /rule 'Hot'.*field 'above': give exactly one of above and below/],
    ['neither above nor below', oneRule(TEMP.replace('above: 85', '')), /field 'above': give exactly one/],
    ['a threshold that is text', oneRule(TEMP.replace('above: 85', 'above: hot')), /rule 'Hot'.*field 'above'/],
    ['a bad duration', oneRule(TEMP.replace('for: 5m', 'for: 5 minutes')), /rule 'Hot'.*field 'for': a duration such as 30s/],
    ['a duration as a number', oneRule(TEMP.replace('for: 5m', 'for: 300')), /field 'for': a duration such as 30s, 5m, 1h or 7d \(a bare number has no unit\)/],
    ['node-offline without for', oneRule('name: Off\nkind: node-offline\nseverity: critical\nsummary: x'), /rule 'Off'.*field 'for'/],
    ['node-offline with for 0s', oneRule('name: Off\nkind: node-offline\nfor: 0s\nseverity: critical\nsummary: x'), /field 'for': must be longer than 0/],
    ['a bad verdict', oneRule('name: H\nkind: health\nverdict: sick\nseverity: critical\nsummary: x'), /rule 'H'.*field 'verdict'/],
    ['a bad health scope', oneRule('name: H\nkind: health\nverdict: degraded\nscope: rack\nseverity: info\nsummary: x'), /field 'scope'/],
    ['xid count 0', oneRule('name: X\nkind: xid-count\ncount: 0\nwindow: 10m\nseverity: info\nsummary: x'), /rule 'X'.*field 'count'/],
    ['xid without window', oneRule('name: X\nkind: xid-count\ncount: 3\nseverity: info\nsummary: x'), /rule 'X'.*field 'window'/],
    [
      'xid codes that are not numbers',
      oneRule('name: X\nkind: xid-count\ncount: 3\nwindow: 10m\ncodes: [a]\nseverity: info\nsummary: x'),
      /field 'codes\[0\]'/,
    ],
    [
      'xid window too long',
      oneRule('name: X\nkind: xid-count\ncount: 3\nwindow: 30d\nseverity: info\nsummary: x'),
      /field 'window': must be longer than 0 and at most 7d/,
    ],
    ['an unknown event kind', oneRule('name: X\nkind: xid-count\ncount: 3\nwindow: 10m\nevents: [oops]\nseverity: info\nsummary: x'), /field 'events\[0\]'/],
    [
      'two rules with one name',
      `rules:\n  - ${TEMP.split('\n').join('\n    ')}\n  - ${TEMP.split('\n').join('\n    ')}`,
      /rule 'Hot' \(rules\[1\]\) field 'name': defined twice/,
    ],
    ['a reserved label', oneRule(`${TEMP}\nlabels: {severity: page}`), /field 'labels.severity': 'severity' is set by the alert engine/],
    ['a label name Prometheus refuses', oneRule(`${TEMP}\nlabels: {"team.name": x}`), /field 'labels.team.name': a label name must match/],
    ['a bad selector', oneRule(`${TEMP}\nselector: "region in (eu"`), /rule 'Hot'.*field 'selector': bad label selector/],
    [
      'an unknown template variable',
      oneRule(TEMP.replace('{{value}}', '{{temperature}}')),
      /rule 'Hot'.*field 'summary': unknown variable \{\{temperature\}\}/,
    ],
    [
      '{{gpu}} in a node rule',
      oneRule('name: Off\nkind: node-offline\nfor: 5m\nseverity: critical\nsummary: "{{gpu}}"'),
      /field 'summary': unknown variable \{\{gpu\}\}/,
    ],
    ['an unbalanced template', oneRule(TEMP.replace('{{value}}', '{{value}')), /field 'summary': unbalanced/],
    ['a description with a bad variable', oneRule(`${TEMP}\ndescription: "{{nope}}"`), /field 'description': unknown variable/],
    ['a runbook that is not a URL', oneRule(`${TEMP}\nrunbook: see wiki`), /field 'runbook': must be an http\(s\) URL/],
    ['an unknown receiver', oneRule(`${TEMP}\nreceivers: [pager]`), /rule 'Hot'.*field 'receivers\[0\]': no receiver named 'pager' \(defined: none\)/],
    ['an unknown default receiver', 'defaultReceivers: [pager]\nrules: []', /field 'defaultReceivers\[0\]': no receiver named 'pager'/],
    ['a receiver of an unknown type', 'receivers:\n  - {name: r, type: email, url: "http://x"}\nrules: []', /receiver 'r' \(receivers\[0\]\) field 'type'/],
    [
      'a receiver URL that is not http',
      'receivers:\n  - {name: r, type: webhook, url: "ftp://x/y"}\nrules: []',
      /receiver 'r'.*field 'url': 'ftp:\/\/x\/y' is not an http\(s\) URL/,
    ],
    [
      'a receiver whose env variable is unset',
      'receivers:\n  - {name: r, type: slack, url: "${NOPE_URL}"}\nrules: []',
      /receiver 'r'.*field 'url': environment variable NOPE_URL is not set/,
    ],
    [
      'a bad header name',
      'receivers:\n  - {name: r, type: webhook, url: "http://x", headers: {"Bad Header": v}}\nrules: []',
      /field 'headers.Bad Header': not a valid HTTP header name/,
    ],
    [
      'a maxBackoff below initialBackoff',
      'receivers:\n  - {name: r, type: webhook, url: "http://x", retry: {initialBackoff: 10s, maxBackoff: 1s}}\nrules: []',
      /field 'retry.maxBackoff'/,
    ],
    ['zero attempts', 'receivers:\n  - {name: r, type: webhook, url: "http://x", retry: {attempts: 0}}\nrules: []', /field 'retry.attempts'/],
    [
      'two receivers with one name',
      'receivers:\n  - {name: r, type: webhook, url: "http://x"}\n  - {name: r, type: slack, url: "http://y"}\nrules: []',
      /receiver 'r' field 'name': defined twice/,
    ],
  ];
  it.each(cases)('%s', (_what, yaml, message) => {
    let err: unknown;
    try {
      parse(yaml);
    } catch (e) {
      err = e;
    }
    expect(FleetError.is(err, 'invalid_argument')).toBe(true);
    expect((err as Error).message).toMatch(/^alert rules rules\.yaml: /);
    expect((err as Error).message).toMatch(message);
  });

  it('names a missing file', () => {
    expect(() => loadAlertRules('/nonexistent/rules.yaml')).toThrow(/cannot read alert rules file \/nonexistent\/rules.yaml: ENOENT/);
  });

  it('reads a file given by path and reports errors with that path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'alert-rules-'));
    try {
      const file = join(dir, 'mine.yaml');
      writeFileSync(file, oneRule(TEMP));
      expect(loadAlertRules(file, {}).rules.map((r) => r.name)).toEqual(['Hot']);
      writeFileSync(file, oneRule(TEMP.replace('above: 85', 'above: [1]')));
      expect(() => loadAlertRules(file, {})).toThrow(new RegExp(`alert rules ${file}: rule 'Hot'`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

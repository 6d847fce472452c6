import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FleetError, xidInfo } from '@gpufleet/protocol';
import { DEFAULT_HEALTH_POLICY_FILE, loadHealthPolicy, parseHealthPolicy, type HealthPolicy } from './health-policy.js';
import { eventFacts, eventMatches } from './event-match.js';
import type { AgentEventRecord } from '../store/store.js';

const GOOD = `
version: 1
rules:
  - name: xid-fatal
    description: fatal XIDs
    match: {kind: xid, codes: [79, 48]}
    verdict: unhealthy
    actions: [cordon-gpu, alert]
  - name: hot
    description: hot GPU
    match: {kind: metric, metric: temperature_c, above: 85}
    for: 2m
    verdict: degraded
    recover: {for: 1m, below: 80}
  - name: ecc
    description: uncorrected ECC
    match: {kind: counter, counter: ecc.uncorrected.volatile}
    verdict: unhealthy
    scope: gpu
  - name: lost
    description: tool says lost
    match: {kind: tool-failure, message: "GPU is lost"}
    verdict: unhealthy
    scope: node
    actions: [drain-node]
    recover: {on: tool-recovered}
  - name: xid13
    description: repeated 13
    match: {kind: xid, codes: [13]}
    window: 10m
    count: 3
    verdict: degraded
    recover: {after: 30m}
`;

function event(kind: string, data: Record<string, unknown>, message = kind): AgentEventRecord {
  return { nodeId: 'did:key:z6Mkx', seq: 1, id: 'e', ts: 0, kind, gpuUuid: null, pciBusId: null, message, data, receivedAt: 0 };
}

/** Names of the rules (with a non-healthy verdict, or all) an event matches. */
function matching(policy: HealthPolicy, e: AgentEventRecord, all = false): string[] {
  const f = eventFacts(e);
  return (policy.byEventKind.get(e.kind) ?? []).filter((r) => (all || r.verdict !== 'healthy') && eventMatches(r, f)).map((r) => r.name);
}

function refusal(text: string): string {
  try {
    parseHealthPolicy(text, 'bad.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(FleetError);
    expect((err as FleetError).code).toBe('invalid_argument');
    return (err as Error).message;
  }
  throw new Error('the policy was accepted');
}

/** A one-rule policy with the rule's YAML lines. */
const oneRule = (lines: string) =>
  `version: 1\nrules:\n  - name: r1\n    description: d\n${lines
    .trim()
    .split('\n')
    .map((l) => `    ${l.trim()}`)
    .join('\n')}\n`;

describe('health policy: good files', () => {
  it('compiles rules: durations in ms, sets, defaults, metric index and kind index', () => {
    const p = parseHealthPolicy(GOOD, 'good.yaml');
    expect(p.source).toBe('good.yaml');
    expect(p.rules.map((r) => r.name)).toEqual(['xid-fatal', 'hot', 'ecc', 'lost', 'xid13']);
    const hot = p.rule('hot')!;
    expect(hot).toMatchObject({ kind: 'metric', metric: 'temperature_c', above: 85, below: null, forMs: 120_000, scope: 'gpu', actions: [], metricIndex: 0 });
    expect(hot.recover).toEqual({ type: 'metric', forMs: 60_000, above: null, below: 80 });
    expect(p.rule('xid-fatal')!.recover).toEqual({ type: 'never' });
    expect(p.rule('xid13')!).toMatchObject({ windowMs: 600_000, count: 3, recover: { type: 'after', ms: 1_800_000 } });
    expect(p.rule('ecc')!.above).toBe(0);
    expect(p.rule('lost')!.recover).toEqual({ type: 'on', event: 'tool-recovered' });
    expect(p.metricRules.map((r) => r.name)).toEqual(['hot']);
    expect(p.byEventKind.get('xid')!.map((r) => r.name)).toEqual(['xid-fatal', 'xid13']);
    expect(p.byEventKind.has('metric')).toBe(false);
    expect([...p.recoveryEvents]).toEqual(['tool-recovered']);
    expect(p.rule('nope')).toBeUndefined();
  });

  it('matches codes, counters (rises only) and message patterns', () => {
    const p = parseHealthPolicy(GOOD);
    expect(matching(p, event('xid', { code: 79 }))).toEqual(['xid-fatal']);
    expect(matching(p, event('xid', { code: 31 }))).toEqual([]);
    expect(matching(p, event('xid', {}))).toEqual([]);
    expect(matching(p, event('counter', { counter: 'ecc.uncorrected.volatile', previous: 0, current: 2 }))).toEqual(['ecc']);
    expect(matching(p, event('counter', { counter: 'ecc.uncorrected.volatile', previous: null, current: 1 }))).toEqual(['ecc']);
    expect(matching(p, event('counter', { counter: 'ecc.uncorrected.volatile', previous: 5, current: 0 }))).toEqual([]);
    expect(matching(p, event('counter', { counter: 'ecc.corrected.volatile', previous: 0, current: 9 }))).toEqual([]);
    expect(matching(p, event('counter', { counter: 'ecc.uncorrected.volatile', current: 'lots' }))).toEqual([]);
    expect(
      matching(p, event('tool-failure', {}, 'nvidia-smi failed: Unable to determine the device handle for GPU 0000:02:00.0: GPU is lost. Reboot')),
    ).toEqual(['lost']);
    expect(matching(p, event('tool-failure', {}, 'nvidia-smi failed: timeout'))).toEqual([]);
  });
});

describe('health policy: the shipped default', () => {
  const p = loadHealthPolicy(null);

  it('is the file in policy/ and documents every rule with a comment', () => {
    expect(p.source).toBe(DEFAULT_HEALTH_POLICY_FILE);
    const lines = readFileSync(DEFAULT_HEALTH_POLICY_FILE, 'utf8').split('\n');
    const ruleLines = lines.map((l, i) => [l, i] as const).filter(([l]) => /^\s*- name:/.test(l));
    expect(ruleLines.length).toBe(p.rules.length);
    for (const [l, i] of ruleLines) {
      let j = i - 1;
      while (j >= 0 && lines[j]!.trim() === '') j--;
      expect(lines[j]!.trim().startsWith('#'), `rule at line ${i + 1} (${l.trim()}) has no comment above it`).toBe(true);
    }
  });

  it.each([48, 64, 74, 79, 95, 119, 120])('XID %i is unhealthy and cordons the GPU (from its catalog action)', (code) => {
    const names = matching(p, event('xid', { code }));
    expect(names).toEqual(['xid-gpu-reset-required']);
    const rule = p.rule(names[0]!)!;
    expect(rule.verdict).toBe('unhealthy');
    expect(rule.actions).toEqual(expect.arrayContaining(['cordon-gpu', 'alert']));
    expect(rule.immediateActions!.has(xidInfo(code)!.immediateAction!)).toBe(true);
  });

  it.each([13, 31, 43, 45, 63, 92, 94])('XID %i alone is recorded as an application fault or information only', (code) => {
    expect(matching(p, event('xid', { code }), true)[0]).toBe('xid-application-fault');
    // Whatever else matches only counts repeats: one line alone changes no verdict.
    for (const name of matching(p, event('xid', { code }))) expect(p.rule(name)!.count).toBeGreaterThan(1);
  });

  it('escalates repeats: 13/31, 94 and 92 have window rules', () => {
    expect(p.rule('xid-app-fault-repeated')).toMatchObject({ windowMs: 600_000, count: 3, verdict: 'degraded' });
    expect(matching(p, event('xid', { code: 13 }), true)).toEqual(['xid-application-fault', 'xid-app-fault-repeated']);
    expect([...p.rule('xid-contained-ecc-repeated')!.codes!]).toEqual([94]);
    expect([...p.rule('xid-sbe-storm')!.codes!]).toEqual([92]);
  });

  it('reads fatal and non-fatal NVLink5 lines apart, and SXids by the catalog severity', () => {
    expect(matching(p, event('xid', { code: 145 }, 'NVRM: Xid (PCI:0000:17:00): 145, RLW_CTRL Fatal error'))).toEqual(['xid-nvlink5-fatal']);
    expect(matching(p, event('xid', { code: 145 }, 'NVRM: Xid (PCI:0000:17:00): 145, RLW_CTRL Nonfatal error'))).toEqual(['xid-nvlink5-nonfatal']);
    const sxid = p.byEventKind.get('sxid')!;
    expect(sxid.map((r) => r.scope)).toEqual(['node', 'node']);
  });

  it('covers ECC, row remapping, heat, slowdown, missing GPUs and tool failures', () => {
    expect(matching(p, event('counter', { counter: 'ecc.uncorrected.volatile', previous: 0, current: 1 }))).toEqual(['ecc-uncorrected']);
    expect(matching(p, event('counter', { counter: 'remapped_rows.failure', previous: false, current: true }))).toEqual(['remapped-rows-failure']);
    expect(matching(p, event('fallen-off-bus', {}))).toEqual(['fallen-off-bus']);
    expect(matching(p, event('gpu-missing', {}))).toEqual(['gpu-missing']);
    expect(p.rule('gpu-missing')!.actions).toContain('cordon-node');
    expect(matching(p, event('tool-failure', {}, 'nvidia-smi failed: Failed to initialize NVML: Driver/library version mismatch'))).toEqual([
      'tool-failure-gpu-lost',
      'tool-failure',
    ]);
    expect(p.rule('gpu-overheating')).toMatchObject({ metric: 'temperature_c', above: 83, forMs: 300_000, verdict: 'degraded', actions: ['alert'] });
    expect(p.metricRules.map((r) => r.metric)).toEqual(
      expect.arrayContaining(['remapped_rows_pending', 'throttle_hw_slowdown', 'throttle_hw_power_brake_slowdown']),
    );
  });

  it('loads from a path, and names a missing file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpufleet-policy-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(file, GOOD);
    expect(loadHealthPolicy(file).rules).toHaveLength(5);
    expect(() => loadHealthPolicy(join(dir, 'absent.yaml'))).toThrow(/cannot read health policy .*absent\.yaml: ENOENT/);
  });
});

describe('health policy: bad files name the rule and the field', () => {
  it.each([
    ['not YAML', 'rules: [unclosed', /not valid YAML/],
    ['not a mapping', '- a\n- b\n', /must be a YAML mapping/],
    ['empty', '', /must be a YAML mapping/],
    ['wrong version', 'version: 2\nrules: []\n', /version/],
    ['no rules', 'version: 1\nrules: []\n', /rules/],
    ['unknown top-level key', `${GOOD}extra: 1\n`, /extra/],
  ])('%s', (_what, text, message) => {
    expect(refusal(text)).toMatch(message);
  });

  it.each([
    ['unknown rule key', 'match: {kind: xid}\nverdict: unhealthy\nseverity: high', /rule 'r1' \(rules\[0\]\).*severity/],
    ['unknown kind', 'match: {kind: smell}\nverdict: unhealthy', /rule 'r1' \(rules\[0\]\) match\.kind/],
    ['unknown match key', 'match: {kind: xid, code: 79}\nverdict: unhealthy', /match.*code/],
    ['codes on a metric', 'match: {kind: metric, metric: power_w, above: 1, codes: [1]}\nverdict: degraded', /match\.codes: codes apply to/],
    ['codes not numbers', 'match: {kind: xid, codes: [seventy-nine]}\nverdict: degraded', /match\.codes/],
    ['unknown immediate action', 'match: {kind: xid, immediateActions: [PANIC]}\nverdict: degraded', /match\.immediateActions/],
    ['immediate actions on sxid', 'match: {kind: sxid, immediateActions: [RESET_GPU]}\nverdict: degraded\nscope: node', /immediateActions apply to kind xid/],
    ['severities on counters', 'match: {kind: counter, counter: x, severities: [critical]}\nverdict: degraded', /severities apply/],
    ['counter without a name', 'match: {kind: counter}\nverdict: unhealthy', /match\.counter: kind counter needs a counter name/],
    ['counter name on xid', 'match: {kind: xid, counter: ecc}\nverdict: unhealthy', /counter applies to kind counter/],
    ['counter with below', 'match: {kind: counter, counter: ecc, below: 3}\nverdict: unhealthy', /match\.below/],
    ['metric without a name', 'match: {kind: metric, above: 3}\nverdict: degraded', /kind metric needs a metric name/],
    ['unknown metric', 'match: {kind: metric, metric: vibes, above: 3}\nverdict: degraded', /match\.metric/],
    ['metric with both thresholds', 'match: {kind: metric, metric: power_w, above: 3, below: 1}\nverdict: degraded', /exactly one of above and below/],
    ['metric without a threshold', 'match: {kind: metric, metric: power_w}\nverdict: degraded', /exactly one of above and below/],
    ['metric on the node', 'match: {kind: metric, metric: power_w, above: 1}\nverdict: degraded\nscope: node', /scope: metric rules judge one GPU/],
    ['threshold on xid', 'match: {kind: xid, above: 3}\nverdict: degraded', /match\.above: thresholds apply/],
    ['bad regex', 'match: {kind: tool-failure, message: "(unclosed"}\nverdict: degraded\nscope: node', /match\.message: is not a valid regular expression/],
    ['message on a metric', 'match: {kind: metric, metric: power_w, above: 1, message: x}\nverdict: degraded', /message applies to events/],
    ['window without count', 'match: {kind: xid}\nwindow: 10m\nverdict: degraded', /count: window and count go together/],
    ['count without window', 'match: {kind: xid}\ncount: 3\nverdict: degraded', /window: window and count go together/],
    ['window on a metric', 'match: {kind: metric, metric: power_w, above: 1}\nwindow: 1m\ncount: 2\nverdict: degraded', /window: a metric rule uses for/],
    ['for on an event', 'match: {kind: xid}\nfor: 5m\nverdict: degraded', /for: for applies to metric rules/],
    ['bad duration', 'match: {kind: xid}\nwindow: ten minutes\ncount: 2\nverdict: degraded', /window: must be a duration/],
    ['zero count', 'match: {kind: xid}\nwindow: 1m\ncount: 0\nverdict: degraded', /count/],
    ['unknown verdict', 'match: {kind: xid}\nverdict: doomed', /verdict/],
    ['missing verdict', 'match: {kind: xid}', /verdict/],
    ['unknown action', 'match: {kind: xid}\nverdict: unhealthy\nactions: [reboot]', /actions/],
    ['action twice', 'match: {kind: xid}\nverdict: unhealthy\nactions: [alert, alert]', /listed twice/],
    ['cordon-gpu on a node rule', 'match: {kind: sxid}\nverdict: unhealthy\nscope: node\nactions: [cordon-gpu]', /cordon-gpu needs scope gpu/],
    ['healthy verdict that cordons', 'match: {kind: xid}\nverdict: healthy\nactions: [cordon-gpu]', /healthy verdict cannot cordon/],
    ['healthy verdict that recovers', 'match: {kind: xid}\nverdict: healthy\nrecover: {after: 1h}', /nothing to recover/],
    ['unknown recover form', 'match: {kind: xid}\nverdict: unhealthy\nrecover: {sometime: soon}', /recover/],
    ['recover.for on an event rule', 'match: {kind: xid}\nverdict: unhealthy\nrecover: {for: 5m}', /recover\.for/],
    ['recover.on a metric rule', 'match: {kind: metric, metric: power_w, above: 1}\nverdict: degraded\nrecover: {on: tool-recovered}', /recover\.on/],
    [
      'recovery threshold on the wrong side',
      'match: {kind: metric, metric: power_w, above: 1}\nverdict: degraded\nrecover: {for: 1m, above: 0}',
      /recover\.above/,
    ],
    ['recover on an unknown event', 'match: {kind: xid}\nverdict: unhealthy\nrecover: {on: sunrise}', /recover/],
  ])('%s', (_what, lines, message) => {
    expect(refusal(oneRule(lines))).toMatch(message);
  });

  it('names a bad name and a duplicate', () => {
    expect(refusal('version: 1\nrules:\n  - name: Bad Name\n    description: d\n    match: {kind: xid}\n    verdict: degraded\n')).toMatch(
      /rule 'Bad Name' \(rules\[0\]\) name/,
    );
    const dup =
      'version: 1\nrules:\n  - {name: a, description: d, match: {kind: xid}, verdict: degraded}\n  - {name: a, description: d, match: {kind: sxid}, verdict: degraded, scope: node}\n';
    expect(refusal(dup)).toMatch(/rule 'a' \(rules\[1\]\) name: 'a' is used by an earlier rule/);
  });

  it('lists several problems with their details', () => {
    let err: FleetError | undefined;
    try {
      parseHealthPolicy(oneRule('match: {kind: metric}\nwindow: 1m\nverdict: doomed'), 'x.yaml');
    } catch (e) {
      err = e as FleetError;
    }
    expect(err?.message).toMatch(/^health policy x\.yaml: /);
    expect((err!.details as { issues: unknown[] }).issues.length).toBeGreaterThanOrEqual(1);
  });
});

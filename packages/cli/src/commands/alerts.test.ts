import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AlertRuleView, AlertView, SilenceView } from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';
import { startFakeApi, type FakeApi } from '../testing/fake-api.js';
import { parseMatcher } from './alerts.js';

const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

const hot: AlertView = {
  id: '0123456789abcdef',
  rule: 'GpuTemperatureHigh',
  kind: 'metric',
  severity: 'warning',
  state: 'firing',
  silencedBy: [],
  silenced: false,
  nodeId: 'did:key:z6MkA',
  hostname: 'gpu-node-07',
  gpu: 'GPU-8c1e',
  gpuIndex: 3,
  labels: { alertname: 'GpuTemperatureHigh', severity: 'warning' },
  summary: 'GPU 3 on gpu-node-07 at 91 °C',
  description: null,
  value: 91,
  activeAt: iso(NOW - 10 * 60_000),
  firedAt: iso(NOW - 5 * 60_000),
  resolvedAt: null,
};
const offline: AlertView = {
  ...hot,
  id: 'fedcba9876543210',
  rule: 'NodeOffline',
  kind: 'node-offline',
  severity: 'critical',
  state: 'firing',
  silenced: true,
  silencedBy: ['sil_1'],
  hostname: 'gpu-node-09',
  gpu: null,
  gpuIndex: null,
  summary: 'Node gpu-node-09 has been OFFLINE for 7m',
  value: null,
};
const rule: AlertRuleView = {
  name: 'GpuTemperatureHigh',
  kind: 'metric',
  severity: 'warning',
  condition: 'gpu_temp_c > 85',
  for: '5m',
  selector: '',
  labels: {},
  summary: 'GPU {{gpu}}',
  receivers: ['ops-slack'],
  pending: 0,
  firing: 1,
};
const silence: SilenceView = {
  id: 'sil_1',
  matchers: [{ name: 'node', value: 'did:key:z6MkB', op: '=' }],
  startsAt: iso(NOW - 60_000),
  endsAt: iso(NOW + 2 * 3_600_000),
  createdBy: 'token:ops',
  comment: 'RMA',
  state: 'active',
};

let api: FakeApi;
beforeAll(async () => {
  api = await startFakeApi({
    'GET /api/v1/alerts': (req) => ({ body: { items: req.query.state === 'pending' ? [] : [hot, offline], total: req.query.state === 'pending' ? 0 : 5 } }),
    'GET /api/v1/alerts/rules': () => ({
      body: { items: [rule], receivers: [{ name: 'ops-slack', type: 'slack', target: 'https://hooks.slack.com', sent: 4, failed: 1, lastError: 'HTTP 500' }] },
    }),
    'GET /api/v1/alerts/history': () => ({
      body: {
        items: [
          {
            at: iso(NOW - 60_000),
            alertId: hot.id,
            rule: hot.rule,
            severity: 'warning',
            nodeId: hot.nodeId,
            hostname: hot.hostname,
            gpu: hot.gpu,
            from: 'pending',
            to: 'firing',
            value: 91,
          },
        ],
      },
    }),
    'POST /api/v1/silences': (req) => ({ status: 201, body: { ...silence, id: 'sil_2', matchers: (req.body as { matchers: unknown }).matchers } }),
    'GET /api/v1/silences': () => ({ body: { items: [silence] } }),
    'DELETE /api/v1/silences/sil_1': () => ({ status: 204 }),
    'DELETE /api/v1/silences/sil_nope': () => ({
      status: 404,
      body: { error: { code: 'not_found', message: "no silence 'sil_nope' (see gpufleet alerts silences)" } },
    }),
  });
});
afterAll(() => api.close());
beforeEach(() => {
  api.requests.length = 0;
});

async function run(argv: string[]) {
  const io = captureIo({ columns: 200 });
  const code = await runCli([...argv, '--server', api.url, '--token', 'gft_t_s'], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('gpufleet alerts', () => {
  it('ls prints a table, firing first, marks silenced alerts and passes filters', async () => {
    const r = await run(['alerts', 'ls', '--state', 'firing', '--node', 'gpu-node-07']);
    expect(r.code).toBe(0);
    const [head, row1, row2] = r.stdout.trimEnd().split('\n');
    expect(head).toMatch(/^STATE\s+SEVERITY\s+RULE\s+NODE\s+GPU\s+SINCE\s+SUMMARY$/);
    expect(row1).toMatch(/^firing\s+warning\s+GpuTemperatureHigh\s+gpu-node-07\s+3\s+5m ago\s+GPU 3 on gpu-node-07 at 91 °C$/);
    expect(row2).toMatch(/^firing \(silenced\)\s+critical\s+NodeOffline\s+gpu-node-09\s+-\s+5m ago/);
    expect(api.requests[0]!.query).toEqual({ state: 'firing', node: 'gpu-node-07', limit: '1000' });
    expect(r.stderr).toBe('showing 2 of 5 alerts: use --limit to see more\n');
  });

  it('ls says when there is nothing, and -o json prints the reply', async () => {
    const none = await run(['alerts', 'ls', '--state', 'pending']);
    expect(none.stderr).toBe('no pending alerts\n');
    const json = await run(['alerts', 'ls', '-o', 'json']);
    expect(JSON.parse(json.stdout).items.map((a: AlertView) => a.id)).toEqual([hot.id, offline.id]);
  });

  it('ls refuses an unknown state before asking the server', async () => {
    const r = await run(['alerts', 'ls', '--state', 'burning']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/'burning' is invalid. Allowed choices are pending, firing, resolved, silenced/);
    expect(api.requests).toHaveLength(0);
  });

  it('rules lists rules and receivers', async () => {
    const r = await run(['alerts', 'rules']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+KIND\s+SEVERITY\s+CONDITION\s+FOR\s+FIRING\s+PENDING\s+RECEIVERS$/m);
    expect(r.stdout).toMatch(/^GpuTemperatureHigh\s+metric\s+warning\s+gpu_temp_c > 85\s+5m\s+1\s+0\s+ops-slack$/m);
    expect(r.stdout).toMatch(/^ops-slack\s+slack\s+https:\/\/hooks.slack.com\s+4\s+1\s+HTTP 500$/m);
  });

  it('history shows transitions', async () => {
    const r = await run(['alerts', 'history', '--since', '1h', '--rule', 'GpuTemperatureHigh']);
    expect(r.stdout).toMatch(/1m ago\s+GpuTemperatureHigh\s+gpu-node-07\s+GPU-8c1e\s+pending -> firing\s+91/);
    expect(api.requests[0]!.query).toEqual({ since: '1h', rule: 'GpuTemperatureHigh', limit: '100' });
  });

  it('silence sends the rule, node and label matchers with a duration and comment', async () => {
    const r = await run([
      'alerts',
      'silence',
      '--rule',
      'GpuTemperatureHigh',
      '--node',
      'gpu-node-07',
      '--matcher',
      'severity!=critical',
      '--duration',
      '4h',
      '--comment',
      'fan swap',
    ]);
    expect(r.code).toBe(0);
    expect(api.requests[0]!.body).toEqual({
      matchers: [
        { name: 'alertname', value: 'GpuTemperatureHigh' },
        { name: 'node', value: 'gpu-node-07' },
        { name: 'severity', op: '!=', value: 'critical' },
      ],
      duration: '4h',
      comment: 'fan swap',
    });
    expect(r.stdout).toMatch(/^silence sil_2 created, ends in 2h/);
  });

  it('silence defaults to 2h and takes --until instead', async () => {
    await run(['alerts', 'silence', '--node', 'gpu-node-07', '--comment', 'x']);
    expect(api.requests[0]!.body).toMatchObject({ duration: '2h' });
    await run(['alerts', 'silence', '--node', 'gpu-node-07', '--until', '2025-06-01T18:00:00Z', '--comment', 'x']);
    expect(api.requests[1]!.body).toMatchObject({ endsAt: '2025-06-01T18:00:00.000Z' });
    expect(api.requests[1]!.body).not.toHaveProperty('duration');
  });

  it.each([
    [['alerts', 'silence', '--comment', 'x'], /say what to silence: --rule NAME, --node REF or --matcher/],
    [['alerts', 'silence', '--rule', 'R'], /--comment/],
    [['alerts', 'silence', '--rule', 'R', '--comment', '  '], /--comment must say why/],
    [['alerts', 'silence', '--rule', 'R', '--comment', 'x', '--duration', 'forever'], /--duration 'forever' is not a duration/],
    [['alerts', 'silence', '--rule', 'R', '--comment', 'x', '--until', 'tomorrow'], /--until 'tomorrow' is not an ISO 8601 time/],
    [['alerts', 'silence', '--rule', 'R', '--comment', 'x', '--until', '2025-06-01T18:00:00Z', '--duration', '1h'], /--duration or --until, not both/],
    [['alerts', 'silence', '--matcher', 'gpu', '--comment', 'x'], /--matcher 'gpu' must be name=value/],
  ])('silence refuses %j', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(api.requests).toHaveLength(0);
  });

  it("silences lists them; unsilence expires one and reports the server's refusal", async () => {
    const list = await run(['alerts', 'silences']);
    expect(list.stdout).toMatch(/^sil_1\s+active\s+node=did:key:z6MkB\s+in 2h\s+token:ops\s+RMA$/m);
    const ok = await run(['alerts', 'unsilence', 'sil_1']);
    expect([ok.code, ok.stdout]).toEqual([0, 'silence sil_1 expired\n']);
    const nope = await run(['alerts', 'unsilence', 'sil_nope']);
    expect(nope.code).not.toBe(0);
    expect(nope.stderr).toMatch(/no silence 'sil_nope'/);
  });
});

describe('parseMatcher', () => {
  it('reads = and != and refuses the rest', () => {
    expect(parseMatcher('gpu=GPU-1=x')).toEqual({ name: 'gpu', op: '=', value: 'GPU-1=x' });
    expect(parseMatcher('severity!=info')).toEqual({ name: 'severity', op: '!=', value: 'info' });
    expect(() => parseMatcher('=x')).toThrow(/name=value/);
    expect(() => parseMatcher('a.b=x')).toThrow(/name=value/);
    expect(() => parseMatcher('a=')).toThrow(/name=value/);
  });
});

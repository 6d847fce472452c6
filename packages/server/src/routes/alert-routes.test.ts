import { SOLE_ALERT_SENDER } from '../alerts/notice-ledger.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveServerConfig } from '../config/server-config.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { EventHub } from '../events/event-hub.js';
import { NodeRegistry } from '../services/node-registry.js';
import { ApiTokenService } from '../auth/api-tokens.js';
import { AuditLog } from '../services/audit-log.js';
import { buildApp, type App } from '../http/app.js';
import { AlertEngine } from '../alerts/alert-engine.js';
import { parseAlertRules } from '../alerts/alert-rules.js';
import { SILENCES_SETTING } from '../alerts/silences.js';
import { gpuSample, makeNode, metricsOf, TestClock } from '../alerts/__tests__/alert-fixtures.js';
import { registerAlertRoutes } from './alert-routes.js';
import { NO_OTHER_REPLICAS } from '../replicas/session-owners.js';

/**
 * The alert routes on a real app (auth, validation, error mapping) over a real SQLite store,
 * node registry and hub; only the HTTP listener is skipped (inject).
 */

const RULES = `
rules:
  - {name: Hot, kind: metric, metric: gpu_temp_c, above: 85, severity: warning, summary: "GPU {{gpu}} on {{hostname}} at {{value}} °C"}
  - {name: GpuUnhealthy, kind: health, verdict: unhealthy, severity: critical, summary: "{{target}}: {{cause}}"}
`;

let dataDir: string;
let store: Store;
let app: App;
let engine: AlertEngine;
let clock: TestClock;
let hub: EventHub;
let admin: string;
let operator: string;
let viewer: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'alert-routes-'));
  clock = new TestClock();
  store = await openStore({ database: null, dataDir });
  await store.migrate();
  hub = new EventHub();
  const latest = new Map<string, ReturnType<typeof metricsOf>>();
  const registry = new NodeRegistry({
    remoteSessions: NO_OTHER_REPLICAS,
    store,
    clock,
    hub,
    offlineAfterMs: 15_000,
    latestMetrics: (id) => latest.get(id) ?? null,
  });
  const apiTokens = new ApiTokenService(store, clock);
  const audit = new AuditLog(store, clock);
  const config = resolveServerConfig({ flags: { dataDir, logLevel: 'silent' } });
  engine = new AlertEngine({
    rules: parseAlertRules(RULES, 'test', {}),
    fleet: registry,
    leadership: SOLE_ALERT_SENDER,
    latestMetrics: (id) => latest.get(id) ?? null,
    clock,
    hub,
    settings: store,
    evaluationIntervalMs: 0,
  });
  engine.start();
  app = await buildApp({ config, store, clock, hub, registry, apiTokens, audit } as never, { logger: false });
  registerAlertRoutes(app, { alerts: engine, registry, clock });
  await app.ready();
  admin = (await apiTokens.create('admin', 'admin')).token;
  operator = (await apiTokens.create('ops', 'operator')).token;
  viewer = (await apiTokens.create('watcher', 'viewer')).token;

  for (const [id, hostname, hot] of [
    ['did:key:z6MkAAAA1', 'gpu-a', 95],
    ['did:key:z6MkBBBB2', 'gpu-b', 60],
  ] as const) {
    await registry.add(makeNode(id, { hostname }));
    registry.seen(id);
    latest.set(id, metricsOf(clock.now(), [gpuSample(id, 0, { temperatureC: hot })]));
  }
  engine.tick();
  hub.publish({ type: 'health', nodeId: 'did:key:z6MkBBBB2', gpuKey: null, verdict: 'unhealthy', previous: 'healthy', rule: 'r', cause: 'GPU count dropped' });
});
afterAll(async () => {
  await engine.stop(100);
  await app.close();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function call(method: string, url: string, token: string | null = viewer, body?: unknown) {
  const res = await app.inject({
    method: method as 'GET',
    url,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    ...(body === undefined
      ? {}
      : typeof body === 'string'
        ? { payload: body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }
        : { payload: body as object }),
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
}

function expectError(res: { status: number; body: any }, status: number, code: string, message: RegExp) {
  expect(res.status).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(res.body.error.message).toMatch(message);
}

describe('alert routes', () => {
  it('list alerts for viewers, filtered by state, rule, node and severity', async () => {
    const all = await call('GET', '/api/v1/alerts');
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(2);
    expect(all.body.items.map((a: any) => [a.rule, a.hostname, a.state, a.summary])).toEqual([
      ['GpuUnhealthy', 'gpu-b', 'firing', 'node: GPU count dropped'],
      ['Hot', 'gpu-a', 'firing', 'GPU 0 on gpu-a at 95 °C'],
    ]);
    expect((await call('GET', '/api/v1/alerts?rule=Hot')).body.items).toHaveLength(1);
    expect((await call('GET', '/api/v1/alerts?node=gpu-b')).body.items.map((a: any) => a.rule)).toEqual(['GpuUnhealthy']);
    expect((await call('GET', '/api/v1/alerts?severity=critical')).body.items.map((a: any) => a.rule)).toEqual(['GpuUnhealthy']);
    expect((await call('GET', '/api/v1/alerts?state=pending')).body.items).toEqual([]);
    const one = all.body.items[1];
    expect((await call('GET', `/api/v1/alerts/${one.id}`)).body).toEqual(one);
  });

  it('show rules with counts and receivers, and the history', async () => {
    const rules = await call('GET', '/api/v1/alerts/rules');
    expect(rules.body.items.map((r: any) => [r.name, r.kind, r.condition, r.firing, r.pending])).toEqual([
      ['Hot', 'metric', 'gpu_temp_c > 85', 1, 0],
      ['GpuUnhealthy', 'health', 'verdict unhealthy', 1, 0],
    ]);
    expect(rules.body.receivers).toEqual([]);
    const history = await call('GET', '/api/v1/alerts/history?limit=1');
    expect(history.body.items).toHaveLength(1);
    expect(history.body.items[0]).toMatchObject({ rule: 'GpuUnhealthy', from: 'inactive', to: 'firing', hostname: 'gpu-b' });
    expect((await call('GET', '/api/v1/alerts/history?rule=Hot&since=1h')).body.items.map((h: any) => h.rule)).toEqual(['Hot']);
  });

  it('let operators silence by rule and node reference, list and expire silences', async () => {
    expectError(
      await call('POST', '/api/v1/silences', viewer, { matchers: [{ name: 'alertname', value: 'Hot' }], duration: '2h', comment: 'x' }),
      403,
      'permission_denied',
      /operator role/,
    );
    const created = await call('POST', '/api/v1/silences', operator, {
      matchers: [
        { name: 'alertname', value: 'Hot' },
        { name: 'node', value: 'gpu-a' },
      ],
      duration: '2h',
      comment: 'fan swap',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      state: 'active',
      createdBy: 'token:ops',
      comment: 'fan swap',
      matchers: [
        { name: 'alertname', value: 'Hot', op: '=' },
        { name: 'node', value: 'did:key:z6MkAAAA1', op: '=' },
      ],
      endsAt: new Date(clock.now() + 7_200_000).toISOString(),
    });
    expect((await call('GET', '/api/v1/alerts?state=silenced')).body.items.map((a: any) => [a.rule, a.silencedBy])).toEqual([['Hot', [created.body.id]]]);
    expect((await call('GET', '/api/v1/silences')).body.items.map((s: any) => s.id)).toEqual([created.body.id]);
    expect(JSON.parse((await store.getSetting(SILENCES_SETTING))!)[0].id).toBe(created.body.id);

    const until = await call('POST', '/api/v1/silences', admin, {
      matchers: [{ name: 'severity', value: 'critical' }],
      endsAt: new Date(clock.now() + 60_000).toISOString(),
      comment: 'short',
    });
    expect(until.status).toBe(201);

    const del = await app.inject({ method: 'DELETE', url: `/api/v1/silences/${created.body.id}`, headers: { authorization: `Bearer ${operator}` } });
    expect(del.statusCode).toBe(204);
    expect((await call('GET', '/api/v1/silences')).body.items.map((s: any) => s.id)).toEqual([until.body.id]);
    expect((await call('GET', '/api/v1/silences?state=all')).body.items.find((s: any) => s.id === created.body.id).state).toBe('expired');
    expectError(await call('DELETE', `/api/v1/silences/${created.body.id}`, operator), 412, 'failed_precondition', /already expired/);
    expect((await call('GET', '/api/v1/alerts?state=silenced')).body.items.map((a: any) => a.rule)).toEqual(['GpuUnhealthy']);
    const audit = await store.listAudit({ action: 'silence.create' });
    expect(audit.map((a) => a.actor)).toEqual(expect.arrayContaining([`token:ops(${operator.split('_')[1]})`]));
  });

  it('refuse garbage with a 4xx naming the problem', async () => {
    const post = (body: unknown) => call('POST', '/api/v1/silences', operator, body);
    expectError(await call('GET', '/api/v1/alerts', null), 401, 'unauthenticated', /API token is required/);
    expectError(await call('GET', '/api/v1/alerts?state=burning'), 400, 'invalid_argument', /querystring field 'state'/);
    expectError(await call('GET', '/api/v1/alerts?limit=0'), 400, 'invalid_argument', /querystring field 'limit'/);
    expectError(await call('GET', '/api/v1/alerts?colour=red'), 400, 'invalid_argument', /querystring/);
    expectError(await call('GET', '/api/v1/alerts?rule=Nope'), 404, 'not_found', /no alert rule 'Nope' \(rules: Hot, GpuUnhealthy\)/);
    expectError(await call('GET', '/api/v1/alerts?node=ghost'), 404, 'not_found', /no node 'ghost'/);
    expectError(await call('GET', '/api/v1/alerts/0123456789abcdef'), 404, 'not_found', /no alert '0123456789abcdef'/);
    expectError(await call('GET', '/api/v1/alerts/history?since=yesterday'), 400, 'invalid_argument', /since 'yesterday'/);
    expectError(await call('GET', '/api/v1/silences?state=old'), 400, 'invalid_argument', /querystring field 'state'/);
    expectError(await post('{not json'), 400, 'invalid_argument', /not valid JSON/);
    expectError(await post([]), 400, 'invalid_argument', /invalid body/);
    expectError(await post({ matchers: [], duration: '1h', comment: 'x' }), 400, 'invalid_argument', /body field 'matchers': give at least one matcher/);
    expectError(
      await post({ matchers: [{ name: 'alertname', value: 'Hot' }], comment: 'x' }),
      400,
      'invalid_argument',
      /exactly one of duration .* and endsAt/,
    );
    expectError(
      await post({ matchers: [{ name: 'alertname', value: 'Hot' }], duration: '1h', endsAt: '2030-01-01T00:00:00Z', comment: 'x' }),
      400,
      'invalid_argument',
      /exactly one of duration/,
    );
    expectError(
      await post({ matchers: [{ name: 'alertname', value: 'Hot' }], duration: 'forever', comment: 'x' }),
      400,
      'invalid_argument',
      /body field 'duration'/,
    );
    expectError(
      await post({ matchers: [{ name: 'alertname', value: 'Hot' }], endsAt: 'tomorrow', comment: 'x' }),
      400,
      'invalid_argument',
      /body field 'endsAt'/,
    );
    expectError(
      await post({ matchers: [{ name: 'alertname', value: 'Hot' }], endsAt: '2000-01-01T00:00:00Z', comment: 'x' }),
      400,
      'invalid_argument',
      /would end in the past/,
    );
    expectError(
      await post({ matchers: [{ name: 'alertname', value: 'Hot' }], duration: '1h', comment: '   ' }),
      400,
      'invalid_argument',
      /body field 'comment': a comment saying why is required/,
    );
    expectError(
      await post({ matchers: [{ name: 'alert name', value: 'Hot' }], duration: '1h', comment: 'x' }),
      400,
      'invalid_argument',
      /body field 'matchers.0.name'/,
    );
    expectError(
      await post({ matchers: [{ name: 'alertname', value: 'Hot', op: '=~' }], duration: '1h', comment: 'x' }),
      400,
      'invalid_argument',
      /body field 'matchers.0.op'/,
    );
    expectError(
      await post({ matchers: [{ name: 'alertname', value: 'Hot' }], duration: '1h', comment: 'x', extra: 1 }),
      400,
      'invalid_argument',
      /invalid body/,
    );
    expectError(await post({ matchers: [{ name: 'alertname', value: 'Hto' }], duration: '1h', comment: 'x' }), 404, 'not_found', /no alert rule 'Hto'/);
    expectError(await post({ matchers: [{ name: 'node', value: 'ghost' }], duration: '1h', comment: 'x' }), 404, 'not_found', /no node 'ghost'/);
    expectError(await post({ matchers: [{ name: 'alertname', value: 'Hot' }], duration: '400d', comment: 'x' }), 400, 'invalid_argument', /at most 365d/);
    expectError(await call('DELETE', '/api/v1/silences/sil_nope', operator), 404, 'not_found', /no silence 'sil_nope'/);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TimelineEntry } from '@gpufleet/protocol';
import { buildApp, type App } from '../http/app.js';
import { resolveServerConfig } from '../config/server-config.js';
import { ApiTokenService } from '../auth/api-tokens.js';
import { AuditLog } from '../services/audit-log.js';
import { GatewayStats } from '../gateway/gateway-stats.js';
import { MetricStore } from '../metrics/metric-store.js';
import type { ServerContext } from '../context.js';
import { registerNodeRoutes } from './node-routes.js';
import { registerFleetRoutes } from './fleet-routes.js';
import { registerHealthRoutes } from './health-routes.js';
import { counter, healthKit, N1, N2, pci, T0, uuid, xid, type HealthKit } from '../health/__tests__/health-kit.js';

let kit: HealthKit;
let app: App;
const tokens: Record<'admin' | 'operator' | 'viewer', string> = { admin: '', operator: '', viewer: '' };

beforeAll(async () => {
  kit = await healthKit({ runningWork: (id) => (id === N2 ? 1 : 0) });
  kit.registry.seen(N1);
  kit.registry.seen(N2);
  const config = resolveServerConfig({ flags: { logLevel: 'silent' } });
  const apiTokens = new ApiTokenService(kit.store, kit.clock);
  for (const role of ['admin', 'operator', 'viewer'] as const) tokens[role] = (await apiTokens.create(role, role)).token;
  const base = {
    config,
    store: kit.store,
    clock: kit.clock,
    hub: kit.hub,
    registry: kit.registry,
    views: kit.views,
    drains: kit.drains,
    // Node routes register the label attestation routes; no test here signs labels.
    trust: {
      labels: {
        current: () => undefined,
        submit: async () => Promise.reject(new Error('no label attestations in this test')),
        assertUnattested: () => undefined,
      },
    },
    apiTokens,
    joinTokens: null as never,
    enrollment: null as never,
    audit: new AuditLog(kit.store, kit.clock),
    gateway: null as never,
    stats: new GatewayStats(),
    metrics: new MetricStore(),
    caPem: null,
    startedAt: T0,
  };
  app = await buildApp(base as never, { logger: false });
  const ctx = { ...base, log: app.log, health: kit.engine } as unknown as ServerContext & { health: typeof kit.engine };
  registerNodeRoutes(app, ctx);
  registerFleetRoutes(app, ctx);
  registerHealthRoutes(app, ctx);
  await app.ready();
  // History to read back: an XID 79 on GPU 2 of gpu-1, an ECC rise on gpu-2, a recorded XID 13.
  await kit.event(xid(79, 2));
  kit.clock.advance(1000);
  await kit.event({ ...counter('ecc.uncorrected.volatile', 0, 4, 1), nodeId: N2 });
  kit.clock.advance(1000);
  await kit.event(xid(13, 0));
  kit.clock.advance(1000);
});
afterAll(async () => {
  await app?.close();
  await kit?.close();
});

async function call(method: string, url: string, body?: unknown, role: keyof typeof tokens | null = 'operator') {
  const res = await app.inject({
    method: method as 'GET',
    url,
    headers: { ...(role ? { authorization: `Bearer ${tokens[role]}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
}

function expectError(res: { status: number; body: any }, status: number, code: string, message: RegExp) {
  expect(res.status).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(res.body.error.message).toMatch(message);
}

describe('GPU cordon and uncordon', () => {
  it('cordons one GPU by index, UUID or PCI bus id; the node and its other GPUs stay READY', async () => {
    const r = await call('POST', '/api/v1/nodes/gpu-1/gpus/1/cordon', { reason: 'fan rattles' });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('READY');
    expect(r.body.gpus.map((g: any) => g.state)).toEqual(['READY', 'CORDONED', 'UNHEALTHY', 'READY']);
    expect(r.body.gpus[1].stateChange).toMatchObject({ by: `token:operator(${tokens.operator.split('_')[1]})`, reason: 'fan rattles' });
    expect((await call('POST', `/api/v1/nodes/gpu-1/gpus/${uuid(1)}/uncordon`)).body.gpus[1].state).toBe('READY');
    expect((await call('POST', '/api/v1/nodes/gpu-1/gpus/00000000:1A:00.0/cordon', {})).body.gpus[3].state).toBe('CORDONED');
    expect((await call('POST', `/api/v1/nodes/gpu-1/gpus/${pci(3)}/uncordon`, null)).body.gpus[3].state).toBe('READY');
  });

  it.each([
    ['a GPU the node lacks', '/api/v1/nodes/gpu-1/gpus/7/cordon', {}, 404, 'not_found', /no GPU with index 7/],
    ['an unknown UUID', '/api/v1/nodes/gpu-1/gpus/GPU-nope/cordon', {}, 404, 'not_found', /no GPU 'GPU-nope'/],
    ['an unknown node', '/api/v1/nodes/nope/gpus/0/cordon', {}, 404, 'not_found', /no node 'nope'/],
    ['a reason that is not text', '/api/v1/nodes/gpu-1/gpus/0/cordon', { reason: 5 }, 400, 'invalid_argument', /reason/],
    ['an empty reason', '/api/v1/nodes/gpu-1/gpus/0/cordon', { reason: '' }, 400, 'invalid_argument', /reason/],
    ['an unknown body key', '/api/v1/nodes/gpu-1/gpus/0/cordon', { force: true }, 400, 'invalid_argument', /force/],
    ['a body that is not JSON', '/api/v1/nodes/gpu-1/gpus/0/cordon', '{nope', 400, 'invalid_argument', /JSON/],
    ['uncordon of a READY GPU', '/api/v1/nodes/gpu-1/gpus/0/uncordon', {}, 412, 'failed_precondition', /cannot uncordon a READY GPU/],
    ['uncordon of an UNHEALTHY GPU', '/api/v1/nodes/gpu-1/gpus/2/uncordon', {}, 412, 'failed_precondition', /health clear/],
  ])('refuses %s', async (_what, url, body, status, code, message) => {
    expectError(await call('POST', url, body), status, code, message);
  });

  it('needs the operator role', async () => {
    expectError(await call('POST', '/api/v1/nodes/gpu-1/gpus/0/cordon', {}, 'viewer'), 403, 'permission_denied', /operator role/);
    expect((await call('POST', '/api/v1/nodes/gpu-1/gpus/0/cordon', {}, null)).status).toBe(401);
  });
});

describe('drain', () => {
  it('drains a node with no running work at once, and one with work until it ends', async () => {
    const r = await call('POST', '/api/v1/nodes/gpu-1/drain', { reason: 'kernel upgrade', timeout: '30m' });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('DRAINED');
    expect(r.body.statusChange).toMatchObject({ reason: 'kernel upgrade' });
    const d = await call('POST', '/api/v1/nodes/gpu-2/drain');
    expect(d.body.status).toBe('DRAINING');
    expect(Date.parse(d.body.statusChange.drainDeadline) - kit.clock.now()).toBe(600_000);
    expectError(await call('POST', '/api/v1/nodes/gpu-2/drain', {}), 412, 'failed_precondition', /cannot drain a DRAINING node \(gpu-2\)/);
    expectError(await call('POST', '/api/v1/nodes/gpu-2/cordon', {}), 412, 'failed_precondition', /cannot cordon a DRAINING node/);
    expect((await call('POST', '/api/v1/nodes/gpu-1/uncordon')).body.status).toBe('READY');
    expect((await call('POST', '/api/v1/nodes/gpu-2/uncordon', { reason: 'not now' })).body.status).toBe('READY');
  });

  it.each([
    ['a bad timeout', { timeout: 'soon' }, /timeout/],
    ['a timeout too short', { timeout: '10ms' }, /between 1s and 7d/],
    ['a timeout too long', { timeout: '30d' }, /between 1s and 7d/],
    ['an unknown key', { force: 1 }, /force/],
    ['a body that is an array', [1], /body/],
  ])('refuses %s', async (_what, body, message) => {
    expectError(await call('POST', '/api/v1/nodes/gpu-1/drain', body), 400, 'invalid_argument', message);
  });

  it('needs the operator role and a known node', async () => {
    expectError(await call('POST', '/api/v1/nodes/gpu-1/drain', {}, 'viewer'), 403, 'permission_denied', /operator/);
    expectError(await call('POST', '/api/v1/nodes/nobody/drain', {}), 404, 'not_found', /no node 'nobody'/);
  });
});

describe('events timeline', () => {
  const kinds = (items: TimelineEntry[]) => items.map((e) => `${e.hostname}:${e.kind}${e.code === null ? '' : `:${e.code}`}`);

  it('lists raw events, verdicts and transitions fleet-wide, newest first', async () => {
    const r = await call('GET', '/api/v1/events?limit=1000', undefined, 'viewer');
    expect(r.status).toBe(200);
    const items: TimelineEntry[] = r.body.items;
    for (let i = 1; i < items.length; i++) expect(items[i - 1]!.at >= items[i]!.at).toBe(true);
    expect(kinds(items)).toEqual(
      expect.arrayContaining(['gpu-1:xid:79', 'gpu-1:verdict:79', 'gpu-1:transition', 'gpu-2:counter', 'gpu-2:verdict', 'gpu-1:match:13', 'gpu-1:xid:13']),
    );
    const verdict = items.find((e) => e.kind === 'verdict' && e.hostname === 'gpu-1')!;
    expect(verdict).toMatchObject({ source: 'health', gpu: uuid(2), nodeId: N1 });
    expect(verdict.message).toMatch(/^xid-gpu-reset-required: healthy -> unhealthy: XID 79/);
    expect((verdict.details as any).evidence.line).toMatch(/NVRM: Xid/);
  });

  it('filters by node, GPU (index with the node, UUID or PCI bus id alone), kind, since and selector', async () => {
    const byNode: TimelineEntry[] = (await call('GET', '/api/v1/events?node=gpu-2', undefined, 'viewer')).body.items;
    expect(new Set(byNode.map((e) => e.hostname))).toEqual(new Set(['gpu-2']));
    const bySelector: TimelineEntry[] = (await call('GET', `/api/v1/events?selector=${encodeURIComponent('region=us')}`, undefined, 'viewer')).body.items;
    expect(bySelector.map((e) => e.id)).toEqual(byNode.map((e) => e.id));
    const gpu2: TimelineEntry[] = (await call('GET', '/api/v1/events?node=gpu-1&gpu=2', undefined, 'viewer')).body.items;
    expect(gpu2.length).toBeGreaterThanOrEqual(3);
    expect(gpu2.every((e) => e.gpu === uuid(2) || e.gpu === pci(2))).toBe(true);
    const byUuid: TimelineEntry[] = (await call('GET', `/api/v1/events?gpu=${uuid(2)}`, undefined, 'viewer')).body.items;
    expect(byUuid.map((e) => e.id).sort()).toEqual(gpu2.map((e) => e.id).sort());
    const byPci: TimelineEntry[] = (await call('GET', '/api/v1/events?gpu=0000:19:00.0&kind=xid', undefined, 'viewer')).body.items;
    expect(kinds(byPci)).toEqual(['gpu-1:xid:79']);
    expect(kinds((await call('GET', '/api/v1/events?kind=counter', undefined, 'viewer')).body.items)).toEqual(['gpu-2:counter']);
    expect((await call('GET', '/api/v1/events?kind=transition', undefined, 'viewer')).body.items.every((e: TimelineEntry) => e.source === 'health')).toBe(true);
    expect((await call('GET', `/api/v1/events?since=${kit.clock.now() + 60_000}`, undefined, 'viewer')).body.items).toEqual([]);
    expect((await call('GET', '/api/v1/events?limit=2', undefined, 'viewer')).body.items).toHaveLength(2);
    // Leaving kinds out, agent and health kinds alike: what a node's health timeline does with run events.
    const all: TimelineEntry[] = (await call('GET', '/api/v1/events?limit=1000', undefined, 'viewer')).body.items;
    const without: TimelineEntry[] = (await call('GET', '/api/v1/events?limit=1000&exclude=xid,%20verdict', undefined, 'viewer')).body.items;
    expect(without.some((e) => e.kind === 'xid' || e.kind === 'verdict')).toBe(false);
    expect(without.map((e) => e.id)).toEqual(all.filter((e) => e.kind !== 'xid' && e.kind !== 'verdict').map((e) => e.id));
    expect(without.length).toBeLessThan(all.length);
  });

  it.each([
    ['an unknown kind', '?kind=gossip', 400, 'invalid_argument', /kind/],
    ['an unknown kind to exclude', '?exclude=xid,gossip', 400, 'invalid_argument', /exclude: 'gossip' is not an event kind/],
    ['a bad since', '?since=yesterday', 400, 'invalid_argument', /since 'yesterday'/],
    ['a zero limit', '?limit=0', 400, 'invalid_argument', /limit/],
    ['a huge limit', '?limit=100000', 400, 'invalid_argument', /limit/],
    ['an unknown parameter', '?colour=red', 400, 'invalid_argument', /colour/],
    ['a bad selector', `?selector=${encodeURIComponent('a in (')}`, 400, 'invalid_argument', /selector|parenthes|\(/],
    ['a GPU index without a node', '?gpu=3', 400, 'invalid_argument', /give the node too/],
    ['an unknown node', '?node=ghost', 404, 'not_found', /no node 'ghost'/],
    ['a GPU the node lacks', '?node=gpu-1&gpu=9', 404, 'not_found', /no GPU with index 9/],
  ])('refuses %s', async (_what, query, status, code, message) => {
    expectError(await call('GET', `/api/v1/events${query}`, undefined, 'viewer'), status, code, message);
  });
});

describe('health clear', () => {
  it('needs a reason, a known GPU and the operator role', async () => {
    expectError(await call('POST', '/api/v1/nodes/gpu-1/health/clear', {}), 400, 'invalid_argument', /reason/);
    expectError(await call('POST', '/api/v1/nodes/gpu-1/health/clear'), 400, 'invalid_argument', /body/);
    expectError(await call('POST', '/api/v1/nodes/gpu-1/health/clear', { reason: 'x', gpu: 'GPU-zzz' }), 404, 'not_found', /no GPU 'GPU-zzz'/);
    expectError(await call('POST', '/api/v1/nodes/gpu-1/health/clear', { reason: 'x', everything: true }), 400, 'invalid_argument', /everything/);
    expectError(await call('POST', '/api/v1/nodes/gpu-1/health/clear', { reason: 'x' }, 'viewer'), 403, 'permission_denied', /operator/);
  });

  it('clears one GPU: its verdict and UNHEALTHY state go, the rest of the fleet is untouched', async () => {
    const before = await call('GET', '/api/v1/gpus', undefined, 'viewer');
    const row = (b: any, host: string, i: number) => b.items.find((r: any) => r.hostname === host && r.gpu.index === i);
    expect(row(before.body, 'gpu-1', 2)).toMatchObject({ health: 'unhealthy', gpu: { state: 'UNHEALTHY', health: { rule: 'xid-gpu-reset-required' } } });
    expect(row(before.body, 'gpu-2', 1).health).toBe('unhealthy');
    const r = await call('POST', '/api/v1/nodes/gpu-1/health/clear', { gpu: '2', reason: 'GPU reset by hand' });
    expect(r.status).toBe(200);
    expect(r.body.cleared).toBe(1);
    expect(r.body.node.gpus[2]).toMatchObject({ state: 'READY' });
    const after = await call('GET', '/api/v1/gpus', undefined, 'viewer');
    expect(row(after.body, 'gpu-1', 2).gpu.state).toBe('READY');
    expect(row(after.body, 'gpu-2', 1).health).toBe('unhealthy');
    const recs: TimelineEntry[] = (await call('GET', '/api/v1/events?node=gpu-1&kind=verdict', undefined, 'viewer')).body.items;
    expect(recs[0]!.message).toMatch(/unhealthy -> healthy: cleared: GPU reset by hand/);
    expect((recs[0]!.details as any).actor).toMatch(/^token:operator/);
  });

  it('clears a whole node', async () => {
    const r = await call('POST', '/api/v1/nodes/gpu-2/health/clear', { reason: 'board swapped' });
    expect(r.body.cleared).toBe(1);
    expect(r.body.node.health).toMatchObject({ verdict: 'healthy', findings: [] });
  });
});

describe('health policy', () => {
  it('shows the policy in force to viewers', async () => {
    const r = await call('GET', '/api/v1/health/policy', undefined, 'viewer');
    expect(r.status).toBe(200);
    expect(r.body.source).toMatch(/default-health-policy\.yaml$/);
    expect(r.body.catalogVersion).toMatch(/^r\d+/);
    expect(r.body.rules.map((x: any) => x.name)).toEqual(kit.engine.policy.rules.map((x) => x.name));
    expect(r.body.rules.find((x: any) => x.name === 'gpu-overheating')).toMatchObject({
      match: { kind: 'metric', metric: 'temperature_c', above: 83 },
      for: '5m',
    });
    expect((await call('GET', '/api/v1/health/policy', undefined, null)).status).toBe(401);
  });
});

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  FleetError,
  type ApplyPoolsResult,
  type PoolDetailView,
  type PoolEventView,
  type PoolOperationView,
  type PoolsConfig,
  type PoolView,
} from '@gpufleet/protocol';
import type { PoolsApi } from '../pools/pools-api.js';
import { startTestServer, type TestServer } from '../testing/test-server.js';

/**
 * The pool routes over a real server (auth, validation, audit, error mapping) with an in-memory
 * PoolsApi in place of the pool manager: what the routes parse, pass on and answer. The manager
 * itself is tested end to end elsewhere.
 */

const AT = '2026-12-05T12:00:00.000Z';

function view(name: string, over: Partial<PoolView> = {}): PoolView {
  return {
    name,
    provider: 'sim',
    providerType: 'sim',
    instanceType: 'sim.h100x8',
    ready: 4,
    current: 4,
    desired: 4,
    desiredSource: 'min',
    minNodes: 4,
    maxNodes: 12,
    gpus: 32,
    allocatedPct: 25,
    costPerHour: 98,
    inFlight: 0,
    lastScaleAt: null,
    ...over,
  };
}

/** A PoolsApi that keeps what it is asked, refuses as the manager does, and answers plain views. */
class FakePools implements PoolsApi {
  pools = new Map<string, PoolView>([['demo', view('demo')]]);
  members = new Map<string, string[]>([['demo', ['node-a', 'node-b']]]);
  eventLog: PoolEventView[] = [];
  applied: Array<{ config: PoolsConfig; baseDir: string; actor: string }> = [];
  scaled: Array<{ name: string; to: number; reason: string; actor: string }> = [];
  replaced: Array<{ name: string; node: string; reason: string; actor: string }> = [];
  eventQueries: Array<{ pool: string | null; query: { after?: number; limit?: number } }> = [];

  private pool(name: string): PoolView {
    const p = this.pools.get(name);
    if (!p) throw new FleetError('not_found', `no pool '${name}'`);
    return p;
  }

  async list(): Promise<PoolView[]> {
    return [...this.pools.values()];
  }

  async get(name: string): Promise<PoolDetailView> {
    const p = this.pool(name);
    return {
      ...p,
      zones: [],
      labels: { pool: name },
      cooldownMs: 60_000,
      autoscaling: null,
      health: { replaceAfterMs: 30_000, maxParallelReplacements: 1, maxUnavailable: '10%', joinTimeoutMs: 600_000 },
      members: [],
      operations: [],
      manualReason: null,
      history: [],
    };
  }

  async events(pool: string | null, query: { after?: number; limit?: number }): Promise<PoolEventView[]> {
    this.eventQueries.push({ pool, query });
    const mine = this.eventLog.filter((e) => pool === null || e.pool === pool);
    if (query.after !== undefined) return mine.filter((e) => e.id > query.after!).slice(0, query.limit ?? 100);
    return mine.slice(-(query.limit ?? 100));
  }

  async apply(config: PoolsConfig, baseDir: string, actor: string): Promise<ApplyPoolsResult> {
    this.applied.push({ config, baseDir, actor });
    const names = Object.keys(config.pools);
    const pools = names.map((name) => ({ name, change: this.pools.has(name) ? ('unchanged' as const) : ('created' as const) }));
    for (const old of this.pools.keys()) if (!names.includes(old)) pools.push({ name: old, change: 'removed' as never });
    return { pools, providers: Object.keys(config.providers).map((name) => ({ name, change: 'created' as const })) };
  }

  async scale(name: string, to: number, reason: string, actor: string): Promise<PoolView> {
    const p = this.pool(name);
    if (to < p.minNodes || to > p.maxNodes) throw new FleetError('invalid_argument', `pool '${name}' takes ${p.minNodes}..${p.maxNodes} nodes, not ${to}`);
    this.scaled.push({ name, to, reason, actor });
    const next = { ...p, desired: to, desiredSource: 'manual' as const };
    this.pools.set(name, next);
    return next;
  }

  async replace(name: string, node: string, reason: string, actor: string): Promise<PoolOperationView> {
    this.pool(name);
    if (!this.members.get(name)?.includes(node)) throw new FleetError('not_found', `node '${node}' is not a member of pool '${name}'`);
    this.replaced.push({ name, node, reason, actor });
    return {
      id: 'op-1',
      pool: name,
      kind: 'replace',
      stage: 'requested',
      reason,
      oldNodeId: node,
      oldHostname: null,
      instanceId: null,
      newNodeId: null,
      newHostname: null,
      zone: null,
      zonesTried: [],
      attempts: 0,
      error: null,
      startedAt: AT,
      updatedAt: AT,
      deadlineAt: null,
    };
  }
}

function event(id: number, pool: string): PoolEventView {
  return { id, pool, at: AT, kind: 'scale-up', message: `scale up 1: event ${id}`, operationId: null, nodeId: null, instanceId: null };
}

const POOLS_FILE = `providers:
  sim: { type: sim }
pools:
  demo:
    provider: sim
    instance_type: sim.h100x8
    min_nodes: 4
    max_nodes: 12
`;

let t: TestServer;
let fake: FakePools;
let viewer: string;
let operator: string;

beforeAll(async () => {
  t = await startTestServer();
  viewer = (await t.api('POST', '/api/v1/api-tokens', { name: 'pool-viewer', role: 'viewer' })).body.token;
  operator = (await t.api('POST', '/api/v1/api-tokens', { name: 'pool-operator', role: 'operator' })).body.token;
});
afterAll(async () => t?.close());
beforeEach(() => {
  fake = new FakePools();
  // The routes read context.pools at each request: the fake stands in for the manager.
  t.server.context.pools = fake;
});

async function auditOf(action: string) {
  return (await t.server.context.store.listAudit({ limit: 1000 })).filter((r) => r.action === action);
}

function expectError(res: { status: number; body: any }, status: number, code: string, message: RegExp): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(res.body.error.message).toMatch(message);
}

describe('pool routes: reads', () => {
  it('lists pools and reads one for a viewer; an unknown pool is 404, a bad name 400', async () => {
    const list = await t.api('GET', '/api/v1/pools', undefined, viewer);
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([view('demo')]);
    const one = await t.api('GET', '/api/v1/pools/demo', undefined, viewer);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ name: 'demo', ready: 4, health: { maxUnavailable: '10%' }, members: [] });
    expectError(await t.api('GET', '/api/v1/pools/nope', undefined, viewer), 404, 'not_found', /no pool 'nope'/);
    for (const bad of ['Demo', 'a_b', '-a', 'a'.repeat(64), 'a%20b', '%E2%80%AE']) {
      expectError(await t.api('GET', `/api/v1/pools/${bad}`, undefined, viewer), 400, 'invalid_argument', /name/);
    }
    expectError(await t.api('GET', '/api/v1/pools', undefined, null), 401, 'unauthenticated', /./);
  });

  it("pages a pool's events with after and limit, and hands back the cursor to follow", async () => {
    fake.eventLog = [event(1, 'demo'), event(2, 'other'), event(3, 'demo'), event(4, 'demo')];
    const newest = await t.api('GET', '/api/v1/pools/demo/events?limit=2', undefined, viewer);
    expect(newest.status).toBe(200);
    expect(newest.body.items.map((e: PoolEventView) => e.id)).toEqual([3, 4]);
    expect(newest.body.next).toBe(4);
    expect(fake.eventQueries.at(-1)).toEqual({ pool: 'demo', query: { limit: 2 } });

    const after = await t.api('GET', '/api/v1/pools/demo/events?after=1', undefined, viewer);
    expect(after.body).toEqual({ items: [event(3, 'demo'), event(4, 'demo')], next: 4 });
    // Nothing new: the cursor stays where it was, so a follower asks again from there.
    expect((await t.api('GET', '/api/v1/pools/demo/events?after=4', undefined, viewer)).body).toEqual({ items: [], next: 4 });
    expect((await t.api('GET', '/api/v1/pools/demo/events', undefined, viewer)).body.next).toBe(4);
    fake.eventLog = [];
    expect((await t.api('GET', '/api/v1/pools/demo/events', undefined, viewer)).body).toEqual({ items: [], next: null });
  });

  it('events of every pool, and of an unknown pool (404 naming the pools there are)', async () => {
    fake.eventLog = [event(1, 'demo'), event(2, 'other')];
    const all = await t.api('GET', '/api/v1/pool-events?after=0&limit=1000', undefined, viewer);
    expect(all.status).toBe(200);
    expect(all.body.items.map((e: PoolEventView) => e.pool)).toEqual(['demo', 'other']);
    expect(fake.eventQueries.at(-1)).toEqual({ pool: null, query: { after: 0, limit: 1000 } });
    expectError(await t.api('GET', '/api/v1/pools/gone/events', undefined, viewer), 404, 'not_found', /no pool 'gone' \(pools: demo\)/);
  });

  it('refuses garbage cursors and limits before asking the manager', async () => {
    const asked = fake.eventQueries.length;
    for (const q of ['after=-1', 'after=abc', 'after=1.5', 'limit=0', 'limit=1001', 'limit=ten', 'limit=2.5', 'since=1', 'after=1&after=2']) {
      const res = await t.api('GET', `/api/v1/pools/demo/events?${q}`, undefined, viewer);
      expect(res.status, `${q}: ${res.text}`).toBe(400);
      expect(res.body.error.code).toBe('invalid_argument');
      expect((await t.api('GET', `/api/v1/pool-events?${q}`, undefined, viewer)).status, q).toBe(400);
    }
    expect(fake.eventQueries.length).toBe(asked);
  });
});

describe('pool routes: apply', () => {
  it('parses the file and hands the manager the normalized config, its folder and who asked; audited', async () => {
    const res = await t.api('POST', '/api/v1/pools/apply', { source: POOLS_FILE, filename: 'pools.yaml', baseDir: '/etc/gpufleet' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ pools: [{ name: 'demo', change: 'unchanged' }], providers: [{ name: 'sim', change: 'created' }] });
    expect(fake.applied).toHaveLength(1);
    const [call] = fake.applied;
    expect(call!.baseDir).toBe('/etc/gpufleet');
    expect(call!.actor).toMatch(/^token:/);
    expect(call!.config.pools.demo).toMatchObject({ name: 'demo', minNodes: 4, maxNodes: 12, labels: { pool: 'demo' } });
    expect(call!.config.providers.sim).toMatchObject({ type: 'sim', bootMs: 2000 });

    const records = await auditOf('pools.apply');
    expect(records.at(0)).toMatchObject({ target: 'pools.yaml', result: 'ok', details: { pools: [], providers: ['sim:created'] } });
  });

  it("uses the server's working folder when no baseDir is given", async () => {
    expect((await t.api('POST', '/api/v1/pools/apply', { source: POOLS_FILE })).status).toBe(200);
    expect(fake.applied[0]!.baseDir).toBe(process.cwd());
  });

  it('refuses a bad pools file with 400 naming the line and field, and applies nothing', async () => {
    const bad = POOLS_FILE.replace('min_nodes: 4', 'min_nodes: 40');
    const res = await t.api('POST', '/api/v1/pools/apply', { source: bad, filename: 'pools.yaml' });
    expectError(res, 400, 'invalid_argument', /^pools\.yaml:7:16: pools\.demo\.min_nodes: 40 is above max_nodes \(12\)$/);
    expect(res.body.error.details.problems[0]).toEqual({ line: 7, col: 16, path: 'pools.demo.min_nodes', message: '40 is above max_nodes (12)' });
    const noProvider = await t.api('POST', '/api/v1/pools/apply', { source: POOLS_FILE.replace('provider: sim', 'provider: aws') });
    expectError(noProvider, 400, 'invalid_argument', /^line 5:15: pools\.demo\.provider: 'aws' is not a provider of this file/);
    expectError(await t.api('POST', '/api/v1/pools/apply', { source: '- a\n' }), 400, 'invalid_argument', /a pools file is a map of fields/);
    expect(fake.applied).toEqual([]);
    const records = await auditOf('pools.apply');
    expect(records.at(0)).toMatchObject({ result: 'error', details: { error: expect.stringMatching(/not a map|map of fields/) } });
  });

  it('refuses garbage bodies: no source, empty, wrong types, extra fields, a relative baseDir, not JSON', async () => {
    const bodies: unknown[] = [
      {},
      { source: '' },
      { source: 42 },
      { source: POOLS_FILE, extra: true },
      { source: POOLS_FILE, baseDir: 'relative/dir' },
      { source: POOLS_FILE, filename: '' },
      { source: POOLS_FILE, filename: 'x'.repeat(256) },
      { source: POOLS_FILE, filename: 'a\u001b[2Jb.yaml' },
      [],
      'not json at all',
    ];
    for (const body of bodies) {
      const res = await t.api('POST', '/api/v1/pools/apply', body);
      expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(400);
      expect(res.body.error.code).toBe('invalid_argument');
    }
    expect(fake.applied).toEqual([]);
  });

  it('refuses a file over the limit, and anyone but an admin', async () => {
    const big = `${POOLS_FILE}#${'x'.repeat(1_048_576)}\n`;
    const res = await t.api('POST', '/api/v1/pools/apply', { source: big });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/source/);
    expectError(await t.api('POST', '/api/v1/pools/apply', { source: POOLS_FILE }, operator), 403, 'permission_denied', /admin/);
    expectError(await t.api('POST', '/api/v1/pools/apply', { source: POOLS_FILE }, viewer), 403, 'permission_denied', /admin/);
    expect(fake.applied).toEqual([]);
  });
});

describe('pool routes: scale and replace', () => {
  it('scales a pool for an operator, with the reason, audited', async () => {
    const res = await t.api('POST', '/api/v1/pools/demo/scale', { to: 8, reason: 'demo tomorrow' }, operator);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ name: 'demo', desired: 8, desiredSource: 'manual' });
    expect(fake.scaled).toEqual([{ name: 'demo', to: 8, reason: 'demo tomorrow', actor: expect.stringMatching(/^token:pool-operator\(/) }]);
    expect((await auditOf('pool.scale')).at(0)).toMatchObject({ target: 'demo', result: 'ok', details: { to: 8, reason: 'demo tomorrow' } });
  });

  it("passes on the manager's refusals: out of range (400 with the range), unknown pool (404); audited with what was asked", async () => {
    expectError(await t.api('POST', '/api/v1/pools/demo/scale', { to: 20, reason: 'x' }, operator), 400, 'invalid_argument', /takes 4\.\.12 nodes, not 20/);
    expect((await auditOf('pool.scale')).at(0)).toMatchObject({ result: 'error', details: { to: 20, reason: 'x', error: expect.stringMatching(/4\.\.12/) } });
    expectError(await t.api('POST', '/api/v1/pools/nope/scale', { to: 1, reason: 'x' }, operator), 404, 'not_found', /no pool 'nope'/);
  });

  it('refuses garbage scale bodies and viewers before asking the manager', async () => {
    const bodies: unknown[] = [
      {},
      { to: 8 },
      { reason: 'x' },
      { to: 8, reason: '' },
      { to: 8, reason: '   ' },
      { to: 8, reason: 'r'.repeat(501) },
      { to: '8', reason: 'x' },
      { to: -1, reason: 'x' },
      { to: 2.5, reason: 'x' },
      { to: 1e9, reason: 'x' },
      { to: null, reason: 'x' },
      { to: 8, reason: 'x', force: true },
    ];
    for (const body of bodies) {
      const res = await t.api('POST', '/api/v1/pools/demo/scale', body, operator);
      expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(400);
      expect(res.body.error.code).toBe('invalid_argument');
    }
    expectError(await t.api('POST', '/api/v1/pools/BAD/scale', { to: 8, reason: 'x' }, operator), 400, 'invalid_argument', /pool name/);
    expectError(await t.api('POST', '/api/v1/pools/demo/scale', { to: 8, reason: 'x' }, viewer), 403, 'permission_denied', /operator/);
    expect(fake.scaled).toEqual([]);
  });

  it('marks a member for replacement and answers the operation; audited with the operation id', async () => {
    const res = await t.api('POST', '/api/v1/pools/demo/replace', { node: 'node-a', reason: 'XID 79' }, operator);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ id: 'op-1', kind: 'replace', stage: 'requested', oldNodeId: 'node-a', reason: 'XID 79' });
    expect(fake.replaced).toEqual([{ name: 'demo', node: 'node-a', reason: 'XID 79', actor: expect.stringMatching(/^token:pool-operator\(/) }]);
    expect((await auditOf('pool.replace')).at(0)).toMatchObject({
      target: 'demo',
      result: 'ok',
      details: { node: 'node-a', reason: 'XID 79', operation: 'op-1' },
    });
  });

  it('refuses a node outside the pool (404), garbage bodies (400) and viewers (403)', async () => {
    expectError(await t.api('POST', '/api/v1/pools/demo/replace', { node: 'node-z', reason: 'x' }, operator), 404, 'not_found', /not a member of pool 'demo'/);
    expectError(await t.api('POST', '/api/v1/pools/nope/replace', { node: 'node-a', reason: 'x' }, operator), 404, 'not_found', /no pool/);
    for (const body of [
      {},
      { node: 'node-a' },
      { reason: 'x' },
      { node: '', reason: 'x' },
      { node: 'n'.repeat(201), reason: 'x' },
      { node: 7, reason: 'x' },
      { node: 'node-a', reason: 'x', now: 1 },
    ]) {
      const res = await t.api('POST', '/api/v1/pools/demo/replace', body, operator);
      expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(400);
    }
    expectError(await t.api('POST', '/api/v1/pools/demo/replace', { node: 'node-a', reason: 'x' }, viewer), 403, 'permission_denied', /operator/);
    expect(fake.replaced).toEqual([]);
  });
});

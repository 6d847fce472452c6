import { FakeApi, fakeError, type FakeReply, type FakeRoute } from './fake-api.js';
import { poolSummaryOf } from './pool-fixture.js';
import type { PoolDetailView, PoolEventView, PoolOperationView } from '../lib/pools.js';

/*
 * The pools API as component tests see it (protocol pool-views.ts shapes): pools kept in memory,
 * events paged as the route pages them (the newest `limit` without `after`, else oldest first
 * after it), scale checked against min..max as the server checks it, and replace starting an
 * operation. Every call is recorded by the FakeApi.
 */
export class FakePoolApi {
  readonly pools = new Map<string, PoolDetailView>();
  readonly events: PoolEventView[] = [];
  /** Routes made to answer a refusal instead, by `METHOD pattern`. */
  private readonly refusals = new Map<string, FakeReply>();

  /** Makes `METHOD pattern` (as registered, e.g. `POST /api/v1/pools/:name/scale`) answer `reply` from now on. */
  refuse(route: string, reply: FakeReply): void {
    this.refusals.set(route, reply);
  }

  private readonly api0 = new FakeApi();
  private on(method: string, pattern: string, route: FakeRoute): this {
    this.api0.on(method, pattern, (call, params) => this.refusals.get(`${method} ${pattern}`) ?? route(call, params));
    return this;
  }

  readonly api = this.routes();

  private routes(): FakeApi {
    this.on('GET', '/api/v1/pools', () => ({ status: 200, body: { items: [...this.pools.values()].map(poolSummaryOf) } }))
      .on('GET', '/api/v1/pools/:name', (_call, { name }) => {
        const pool = this.pools.get(name!);
        return pool ? { status: 200, body: pool } : fakeError(404, 'not_found', `no pool '${name}'`);
      })
      .on('GET', '/api/v1/pools/:name/events', (call, { name }) => {
        if (!this.pools.has(name!)) return fakeError(404, 'not_found', `no pool '${name}'`);
        const mine = this.events.filter((e) => e.pool === name).sort((a, b) => a.id - b.id);
        const limit = Number(call.query.get('limit') ?? 100);
        const after = call.query.get('after');
        const items = after === null ? mine.slice(-limit) : mine.filter((e) => e.id > Number(after)).slice(0, limit);
        return { status: 200, body: { items, next: items.at(-1)?.id ?? (after === null ? null : Number(after)) } };
      })
      .on('POST', '/api/v1/pools/:name/scale', (call, { name }) => {
        const pool = this.pools.get(name!);
        if (!pool) return fakeError(404, 'not_found', `no pool '${name}'`);
        const { to, reason } = call.body as { to: number; reason: string };
        if (!Number.isInteger(to) || to < pool.minNodes || to > pool.maxNodes)
          return fakeError(400, 'invalid_argument', `to: must be between ${pool.minNodes} and ${pool.maxNodes}`);
        const next: PoolDetailView = { ...pool, desired: to, desiredSource: 'manual', manualReason: reason };
        this.pools.set(name!, next);
        return { status: 200, body: poolSummaryOf(next) };
      })
      .on('POST', '/api/v1/pools/:name/replace', (call, { name }) => {
        const pool = this.pools.get(name!);
        if (!pool) return fakeError(404, 'not_found', `no pool '${name}'`);
        const { node, reason } = call.body as { node: string; reason: string };
        if (!pool.members.some((m) => m.nodeId === node)) return fakeError(404, 'not_found', `node ${node} is not a member of pool ${name}`);
        const op: PoolOperationView = {
          id: `op_replace_${pool.operations.length + 1}`,
          pool: name!,
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
          attempts: 1,
          error: null,
          startedAt: new Date().toISOString(),
          updatedAt: new Date().toISOString(),
          deadlineAt: null,
        };
        this.pools.set(name!, { ...pool, operations: [...pool.operations, op], inFlight: pool.inFlight + 1 });
        return { status: 201, body: op };
      });
    return this.api0;
  }

  readonly fetch = this.api.fetch;

  add(pool: PoolDetailView): PoolDetailView {
    this.pools.set(pool.name, pool);
    return pool;
  }
}

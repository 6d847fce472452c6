import { FakeApi, fakeError, type FakeReply, type FakeRoute } from './fake-api.js';
import type { RolloutDetail, RolloutView } from '../lib/rollouts.js';

/*
 * The rollout routes as component tests see them: list and detail from `rollouts`, and pause,
 * resume and abort moving a rollout's state the way the server's state machine does (anything
 * else is refused with 412, as the server refuses it). Any route can answer a refusal instead.
 */
export class FakeRolloutApi {
  readonly rollouts = new Map<string, RolloutDetail>();
  private readonly refusals = new Map<string, FakeReply>();
  readonly api = new FakeApi();
  readonly fetch = this.api.fetch;

  constructor() {
    this.on('GET', '/api/v1/rollouts', () => ({
      status: 200,
      body: { items: [...this.rollouts.values()].map(({ hosts: _hosts, ...view }): RolloutView => view).reverse() },
    }));
    this.on('GET', '/api/v1/rollouts/:id', (_c, p) => this.reply(p.id!, (r) => r));
    this.on('POST', '/api/v1/rollouts/:id/pause', (_c, p) =>
      this.reply(p.id!, (r) => (r.state === 'running' ? { ...r, state: 'paused', message: 'paused by ops' } : null)),
    );
    this.on('POST', '/api/v1/rollouts/:id/resume', (_c, p) =>
      this.reply(p.id!, (r) => (r.state === 'paused' ? { ...r, state: 'running', message: null } : null)),
    );
    this.on('POST', '/api/v1/rollouts/:id/abort', (c, p) =>
      this.reply(p.id!, (r) =>
        r.state === 'running' || r.state === 'paused'
          ? { ...r, state: 'aborted', message: `aborted by ops${(c.body as { reason?: string }).reason ? `: ${(c.body as { reason?: string }).reason}` : ''}` }
          : null,
      ),
    );
  }

  /** Makes `METHOD /pattern` (as registered) answer this instead. */
  refuse(route: string, reply: FakeReply): void {
    this.refusals.set(route, reply);
  }

  private on(method: string, pattern: string, route: FakeRoute): void {
    this.api.on(method, pattern, (call, params) => this.refusals.get(`${method} ${pattern}`) ?? route(call, params));
  }

  /** Applies `change` (null: not allowed in this state) to the stored rollout and answers it. */
  private reply(id: string, change: (r: RolloutDetail) => RolloutDetail | null): FakeReply {
    const r = this.rollouts.get(id);
    if (!r) return fakeError(404, 'not_found', `no rollout ${id}`);
    const next = change(r);
    if (!next) return fakeError(412, 'failed_precondition', `rollout ${id} is ${r.state}`);
    this.rollouts.set(id, next);
    return { status: 200, body: next };
  }
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveServerConfig } from '../config/server-config.js';
import { ApiTokenService } from '../auth/api-tokens.js';
import { AuditLog } from '../services/audit-log.js';
import { buildApp, type App } from '../http/app.js';
import { readyNodes, startRolloutKit, type RolloutKit } from '../rollouts/__tests__/rollout-kit.js';
import { registerRolloutRoutes } from './rollout-routes.js';
import { expectError, injectJson } from './__tests__/inject-json.js';

/** The rollout routes on a real app (auth, validation, error mapping, audit hook) over a real service and SQLite store. */

let kit: RolloutKit;
let app: App;
let operator: string;
let viewer: string;

beforeAll(async () => {
  kit = await startRolloutKit(readyNodes(3));
  const config = resolveServerConfig({ flags: { dataDir: kit.releases.dir, logLevel: 'silent' } });
  const apiTokens = new ApiTokenService(kit.releases.store, kit.releases.clock);
  const audit = new AuditLog(kit.releases.store, kit.releases.clock);
  app = await buildApp({ config, apiTokens, audit } as never, { logger: false });
  registerRolloutRoutes(app, { rollouts: kit.service });
  await app.ready();
  operator = (await apiTokens.create('ops', 'operator')).token;
  viewer = (await apiTokens.create('watcher', 'viewer')).token;
});
afterAll(async () => {
  await app.close();
  await kit.close();
});

function call(method: string, url: string, token: string | null, body?: unknown) {
  return injectJson(app, method, url, token, body);
}

describe('rollout routes', () => {
  it('refuse garbage and the wrong roles before anything starts', async () => {
    const good = { rollout: kit.sign() };
    expectError(await call('POST', '/api/v1/rollouts', operator, '{"rollout":'), 400, 'invalid_argument', /not valid JSON/);
    expectError(await call('POST', '/api/v1/rollouts', operator, {}), 400, 'invalid_argument', /rollout/);
    expectError(await call('POST', '/api/v1/rollouts', operator, { ...good, extra: 1 }), 400, 'invalid_argument', /extra|unrecognized/i);
    expectError(await call('POST', '/api/v1/rollouts', operator, { rollout: { ...good.rollout, sig: 7 } }), 400, 'invalid_argument', /sig/);
    const badPlan = { rollout: { ...good.rollout, payload: { ...good.rollout.payload, plan: { ...good.rollout.payload.plan, waves: [50, 10] } } } };
    expectError(await call('POST', '/api/v1/rollouts', operator, badPlan), 400, 'invalid_argument', /ascending percentages ending at 100/);
    const tampered = { rollout: { ...good.rollout, payload: { ...good.rollout.payload, selector: 'pool=other' } } };
    expectError(await call('POST', '/api/v1/rollouts', operator, tampered), 400, 'invalid_argument', /valid signature/);
    expectError(await call('POST', '/api/v1/rollouts', viewer, good), 403, 'permission_denied', /operator role/);
    expectError(await call('POST', '/api/v1/rollouts', null, good), 401, 'unauthenticated');
    expectError(await call('GET', '/api/v1/rollouts', null), 401, 'unauthenticated');
    expectError(await call('GET', '/api/v1/rollouts/ro-nothere00', viewer), 404, 'not_found', /no rollout/);
    expectError(await call('GET', '/api/v1/rollouts/..%2Fetc', viewer), 400, 'invalid_argument', /rollout id/);
    expectError(await call('POST', '/api/v1/rollouts/ro-nothere00/pause', operator, {}), 404, 'not_found');
    expectError(await call('POST', '/api/v1/rollouts/ro-nothere00/pause', operator, { reason: 5 }), 400, 'invalid_argument', /reason/);
    expectError(await call('POST', '/api/v1/rollouts/ro-nothere00/abort', operator, { rollback: 'yes' }), 400, 'invalid_argument', /rollback/);
    expectError(await call('POST', '/api/v1/rollouts/ro-nothere00/resume', viewer, {}), 403, 'permission_denied');
    expectError(await call('GET', '/api/v1/rollouts/ro-nothere00/events', viewer), 404, 'not_found');
    expectError(await call('GET', '/api/v1/rollouts/ro-nothere00/events?limit=0', viewer), 400, 'invalid_argument', /limit/);
    expectError(await call('GET', '/api/v1/rollouts/ro-nothere00/events?after=-1', viewer), 400, 'invalid_argument', /after/);
    expectError(await call('GET', '/api/v1/rollouts/ro-nothere00/events?extra=1', viewer), 400, 'invalid_argument');
    expect((await call('GET', '/api/v1/rollouts', viewer)).body).toEqual({ items: [] });
  });

  it('start, get, list, pause, resume and abort, each write in the audit log', async () => {
    const started = await call('POST', '/api/v1/rollouts', operator, { rollout: kit.sign() });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const id = started.body.id as string;
    expect(started.body).toMatchObject({ state: 'running', release: { kind: 'agent', version: '0.3.0' }, counts: { updating: 1, pending: 2 } });
    expect((await call('GET', `/api/v1/rollouts/${id}`, viewer)).body.hosts.map((h: { hostname: string }) => h.hostname)).toEqual(['h1', 'h2', 'h3']);
    expect((await call('GET', '/api/v1/rollouts', viewer)).body.items.map((r: { id: string }) => r.id)).toEqual([id]);
    const paused = (await call('POST', `/api/v1/rollouts/${id}/pause`, operator, { reason: 'lunch' })).body;
    expect(paused.state).toBe('paused');
    expect(paused.message).toMatch(/^paused by .*ops.*: lunch$/);
    expectError(await call('POST', `/api/v1/rollouts/${id}/pause`, operator, {}), 412, 'failed_precondition', /is paused: only a running rollout can pause/);
    expect((await call('POST', `/api/v1/rollouts/${id}/resume`, operator, {})).body.state).toBe('running');
    const aborted = await call('POST', `/api/v1/rollouts/${id}/abort`, operator, { reason: 'changed my mind' });
    expect(aborted.body).toMatchObject({ state: 'aborted' });
    expect(kit.takeFrames('rollback')).toEqual(['h1']); // rollback defaults to true
    const events = (await call('GET', `/api/v1/rollouts/${id}/events`, viewer)).body.items as Array<{ id: number; kind: string; message: string }>;
    expect(events.map((e) => e.kind)).toEqual(['created', 'step-started', 'paused', 'resumed', 'aborted']);
    expect(events[4]!.message).toMatch(/aborted by .*: changed my mind; 1 host told to roll back/);
    const later = (await call('GET', `/api/v1/rollouts/${id}/events?after=${events[2]!.id}&limit=1`, viewer)).body.items;
    expect(later.map((e: { kind: string }) => e.kind)).toEqual(['resumed']);
    const records = await kit.releases.store.listAudit({ limit: 50 });
    const mine = records.filter((r) => r.action.startsWith('rollout.')).map((r) => [r.action, r.result, r.target]);
    expect(mine).toEqual(
      expect.arrayContaining([
        ['rollout.start', 'ok', id],
        ['rollout.pause', 'ok', id],
        ['rollout.pause', 'error', id],
        ['rollout.resume', 'ok', id],
        ['rollout.abort', 'ok', id],
      ]),
    );
  });
});

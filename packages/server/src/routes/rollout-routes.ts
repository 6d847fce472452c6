import { AbortRolloutRequest, ROLLOUT_ID, RolloutActionRequest, StartRolloutRequest } from '@gpufleet/protocol';
import { z } from 'zod';
import type { App } from '../http/app.js';
import type { RolloutService } from '../rollouts/rollout-service.js';
import { audited } from './request-audit.js';

/** A signed rollout with a deep capability chain is a few KiB; anything near this is garbage. */
const ROLLOUT_BODY_LIMIT = 256 * 1024;

const RolloutParams = z.strictObject({ id: z.string().regex(ROLLOUT_ID, 'a rollout id such as ro-3f2a9c41d0e8b7a61c5d (gpufleet rollouts ls)') });

const EventsQuery = z.strictObject({
  after: z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).default(0),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
});

export interface RolloutRouteDeps {
  rollouts: Pick<RolloutService, 'create' | 'list' | 'get' | 'events' | 'pause' | 'resume' | 'abort'>;
}

/**
 * Rollouts (issue 14; shapes in the protocol's rollout-views.ts): start one from an operator's
 * signed rollout, list and read them (viewer), pause, resume and abort them (operator). Each
 * write is one audit record under its domain action.
 */
export function registerRolloutRoutes(app: App, deps: RolloutRouteDeps): void {
  app.get(
    '/api/v1/rollouts',
    { config: { auth: 'viewer' }, schema: { tags: ['rollouts'], summary: 'Rollouts, newest first, with their steps and host counts' } },
    async () => deps.rollouts.list(),
  );

  app.get(
    '/api/v1/rollouts/:id',
    { config: { auth: 'viewer' }, schema: { tags: ['rollouts'], summary: "A rollout with its steps and every host's place in it", params: RolloutParams } },
    async (req) => deps.rollouts.get(req.params.id),
  );

  app.get(
    '/api/v1/rollouts/:id/events',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['rollouts'],
        summary: "A rollout's history, oldest first: step changes, host failures and returns, operators' actions",
        params: RolloutParams,
        querystring: EventsQuery,
      },
    },
    async (req) => deps.rollouts.events(req.params.id, req.query.after, req.query.limit),
  );

  app.post(
    '/api/v1/rollouts',
    {
      config: { auth: 'operator' },
      bodyLimit: ROLLOUT_BODY_LIMIT,
      schema: {
        tags: ['rollouts'],
        summary: 'Start a rollout signed by an operator holding release/rollout: canary hosts first, then the waves',
        body: StartRolloutRequest,
      },
    },
    async (req, reply) => {
      const p = req.body.rollout.payload;
      const detail = await audited(req, 'rollout.start', `${p.release.name}@${p.release.version}`, async (audit) => {
        const d = await deps.rollouts.create(req.body.rollout, audit.actor);
        await audit.note({
          action: 'rollout.start',
          target: d.id,
          result: 'ok',
          details: { release: `${p.release.name}@${p.release.version}`, selector: p.selector, hosts: d.hosts.length, invoker: p.invoker },
        });
        return d;
      });
      reply.code(201);
      return detail;
    },
  );

  for (const verb of ['pause', 'resume'] as const) {
    app.post(
      `/api/v1/rollouts/:id/${verb}`,
      {
        config: { auth: 'operator' },
        schema: {
          tags: ['rollouts'],
          summary: verb === 'pause' ? 'Pause a running rollout: no new step starts' : 'Resume a paused rollout (failures so far are accepted)',
          params: RolloutParams,
          body: RolloutActionRequest,
        },
      },
      async (req) => audited(req, `rollout.${verb}`, req.params.id, (audit) => deps.rollouts[verb](req.params.id, audit.actor, req.body.reason)),
    );
  }

  app.post(
    '/api/v1/rollouts/:id/abort',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['rollouts'],
        summary: 'Abort a running or paused rollout; by default every host that took the release rolls back',
        params: RolloutParams,
        body: AbortRolloutRequest,
      },
    },
    async (req) =>
      audited(req, 'rollout.abort', req.params.id, (audit) =>
        deps.rollouts.abort(req.params.id, audit.actor, { rollback: req.body.rollback, ...(req.body.reason ? { reason: req.body.reason } : {}) }),
      ),
  );
}

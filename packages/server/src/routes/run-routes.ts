import { z } from 'zod';
import { FleetError, SignedCancel, capabilityId } from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import type { EventHub } from '../events/event-hub.js';
import type { AuditLog } from '../services/audit-log.js';
import type { RunService } from '../runs/run-service.js';
import { SubmitRunRequest } from '../runs/submit-request.js';
import { followRun } from '../runs/run-follow.js';
import { openSseStream } from './stream-routes.js';
import { resolveSseLimits } from '../streams/sse-stream.js';
import { requestActor } from './request-actor.js';

const IdParams = z.strictObject({ id: z.string().min(1).max(64) });
const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  /** Only runs created before this time (ISO 8601 or epoch ms): the next page. */
  before: z.string().max(40).optional(),
  active: z.enum(['true', 'false']).optional(),
});
const OutputQuery = z.strictObject({
  node: z.string().min(1).max(200).optional(),
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});
const StreamQuery = z.strictObject({ access_token: z.string().optional() });
/** Optional body of a cancel: the operator's SignedCancel of the run's command (hosts that have not run it yet then refuse it). */
const CancelBody = z.strictObject({ signed: SignedCancel.optional() }).nullish();

/** What the run routes need (a ServerContext holding `runs` fits). */
export interface RunRouteDeps {
  runs: RunService;
  audit: AuditLog;
  hub: EventHub;
}

function beforeMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isSafeInteger(ms))
    throw new FleetError('invalid_argument', `invalid querystring field 'before': '${text}' is neither an ISO 8601 time nor epoch ms`);
  return ms;
}

/** Command fan-out over REST: submit, list, read, follow live, output and cancel. */
export function registerRunRoutes(app: App, ctx: RunRouteDeps): void {
  app.post(
    '/api/v1/runs',
    {
      config: { auth: 'operator' },
      schema: { tags: ['runs'], summary: 'Run an operator-signed command on every host its target selector matches', body: SubmitRunRequest },
    },
    async (req, reply) => {
      const actor = requestActor(req);
      const p = req.body.command.payload;
      // Who signed it and under which capability, whatever the outcome (a refused replay is worth knowing about).
      const details = {
        invoker: p.invoker,
        capabilityId: p.capability ? capabilityId(p.capability) : null,
        ability: p.ability,
        target: p.target,
        kind: p.command.kind,
      };
      // One audit record per request, written by the app's hook: this only says what it knows.
      req.auditNote = { action: 'run.submit', target: p.runId, details };
      try {
        const res = await ctx.runs.submit(req.body, actor);
        req.auditNote.details = { ...details, summary: res.run.command.summary, targets: res.targets.length, batch: res.run.batch };
        return reply.status(201).send({ id: res.id, state: res.state, targets: res.targets });
      } catch (err) {
        req.auditNote.details = { ...details, error: err instanceof Error ? err.message : String(err) };
        throw err;
      }
    },
  );

  app.get(
    '/api/v1/runs',
    { config: { auth: 'viewer' }, schema: { tags: ['runs'], summary: 'Runs, newest first, with target counts by state', querystring: ListQuery } },
    async (req) => {
      const before = beforeMs(req.query.before);
      const items = await ctx.runs.list({
        limit: req.query.limit ?? 50,
        ...(before === undefined ? {} : { before }),
        ...(req.query.active ? { active: req.query.active === 'true' } : {}),
      });
      return { items };
    },
  );

  app.get(
    '/api/v1/runs/:id',
    { config: { auth: 'viewer' }, schema: { tags: ['runs'], summary: 'One run with the state, exit code and reason of every target', params: IdParams } },
    async (req) => {
      return ctx.runs.get(req.params.id);
    },
  );

  app.get(
    '/api/v1/runs/:id/output',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['runs'],
        summary: 'Stored output chunks in arrival order; page with `after` (the `next` of the previous page)',
        params: IdParams,
        querystring: OutputQuery,
      },
    },
    async (req) => {
      return ctx.runs.output({ runId: req.params.id, ...req.query });
    },
  );

  app.get(
    '/api/v1/runs/:id/stream',
    {
      config: { auth: 'viewer', sse: true },
      schema: {
        tags: ['runs', 'streams'],
        summary: 'SSE: `run` (snapshot), `output` (history, then live), `target` (state changes), then `done`',
        params: IdParams,
        querystring: StreamQuery,
      },
    },
    async (req, reply) => {
      // Unknown runs are a plain 404, before the stream opens.
      await ctx.runs.get(req.params.id);
      let stop = () => {};
      let closed = false;
      const stream = openSseStream(reply, 'lossless', resolveSseLimits(), () => {
        closed = true;
        stop();
      });
      stop = followRun(ctx, req.params.id, { send: (event, data) => stream.send(event, data), end: () => stream.end(), ready: () => stream.ready() });
      if (closed) stop();
    },
  );

  app.post(
    '/api/v1/runs/:id/cancel',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['runs'],
        summary: 'Cancel a run: hosts not started are canceled, running ones are killed (process group); a signed cancel also reaches hosts that connect later',
        params: IdParams,
        body: CancelBody,
      },
    },
    async (req) => {
      const actor = requestActor(req);
      const signed = req.body?.signed;
      req.auditNote = { action: 'run.cancel', target: req.params.id };
      try {
        const view = await ctx.runs.cancel(req.params.id, actor, signed);
        req.auditNote.details = {
          invoker: view.invoker,
          capabilityId: view.capabilityId,
          state: view.state,
          counts: view.counts,
          signedBy: signed?.payload.iss ?? null,
        };
        return view;
      } catch (err) {
        req.auditNote.details = { error: err instanceof Error ? err.message : String(err) };
        throw err;
      }
    },
  );
}

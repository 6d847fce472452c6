import { z } from 'zod';
import { AddTemplateRequest, PLAY_STATES, StartPlayRequest } from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import { followPlay } from '../plays/play-follow.js';
import type { PlayService } from '../plays/play-service.js';
import type { TemplateService } from '../plays/template-service.js';
import { resolveSseLimits } from '../streams/sse-stream.js';
import { audited } from './request-audit.js';
import { openSseStream } from './stream-routes.js';

const NameParams = z.strictObject({ name: z.string().min(1).max(64) });
const IdParams = z.strictObject({ id: z.string().min(1).max(64) });
const VersionQuery = z.strictObject({
  version: z.coerce.number({ error: 'version must be a whole number' }).int('version must be a whole number').min(1, 'version is at least 1').optional(),
});
const ListQuery = z.strictObject({
  state: z.enum(PLAY_STATES).optional(),
  limit: z.coerce.number({ error: 'limit must be a whole number' }).int('limit must be a whole number').min(1).max(1000).optional(),
});
const EventsQuery = z.strictObject({
  after: z.coerce.number({ error: 'after must be an event seq' }).int('after must be an event seq').min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce.number({ error: 'limit must be a whole number' }).int('limit must be a whole number').min(1).max(10_000).optional(),
});
const StreamQuery = z.strictObject({
  after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  access_token: z.string().optional(),
});

/** A play's start with signed parts for a few thousand agent hosts. */
export const PLAY_BODY_LIMIT = 64 * 1024 * 1024;

/** Playbooks are up to 1 MiB of text; JSON escaping can double it. */
export const TEMPLATE_BODY_LIMIT = 3 * 1024 * 1024;

/** What the play routes need (a ServerContext fits). */
export interface PlayRouteDeps {
  plays: PlayService;
  templates: TemplateService;
}

/**
 * Playbook templates (list, read a version, add: admin) and plays (start and cancel: operator;
 * list, read, events, and an SSE stream of one play's log). Each change is one audit record.
 */
export function registerPlayRoutes(app: App, ctx: PlayRouteDeps): void {
  app.get(
    '/api/v1/templates',
    { config: { auth: 'viewer' }, schema: { tags: ['plays'], summary: 'Playbook templates, the newest version of each' } },
    async () => ({
      items: await ctx.templates.list(),
    }),
  );

  app.get(
    '/api/v1/templates/:name',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['plays'],
        summary: 'One template version (the newest by default) with its playbook and every version number',
        params: NameParams,
        querystring: VersionQuery,
      },
    },
    async (req) => ctx.templates.detail(req.params.name, req.query.version),
  );

  app.post(
    '/api/v1/templates',
    {
      config: { auth: 'admin' },
      bodyLimit: TEMPLATE_BODY_LIMIT,
      schema: {
        tags: ['plays'],
        summary: 'Add a custom template, or the next version of one; the playbook is checked (line:col on errors)',
        body: AddTemplateRequest,
      },
    },
    async (req, reply) => {
      const view = await audited(req, 'template.add', req.body.name, (audit) => ctx.templates.add(req.body, audit));
      reply.code(201);
      return view;
    },
  );

  app.post(
    '/api/v1/plays/plan',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['plays'],
        summary: "Who a play would run on, and each agent host's part (playbook, groups, merged variables) for the CLI to sign; nothing is stored",
        body: StartPlayRequest,
      },
    },
    async (req) => ctx.plays.plan(req.body),
  );

  app.post(
    '/api/v1/plays',
    {
      config: { auth: 'operator' },
      // Each agent host's signed part carries the playbook: a play on many agent hosts is a large body.
      bodyLimit: PLAY_BODY_LIMIT,
      schema: {
        tags: ['plays'],
        summary:
          "Run a template: ansible-playbook over SSH on the SSH hosts a selector picks, and each agent host's signed part through its agent (PENDING, then RUNNING)",
        body: StartPlayRequest,
      },
    },
    async (req, reply) => {
      const view = await audited(req, 'play.start', req.body.template, (audit) => ctx.plays.start(req.body, audit));
      reply.code(201);
      return view;
    },
  );

  app.get(
    '/api/v1/plays',
    { config: { auth: 'viewer' }, schema: { tags: ['plays'], summary: 'Plays, newest first', querystring: ListQuery } },
    async (req) => ({ items: await ctx.plays.list(req.query) }),
  );

  app.get(
    '/api/v1/plays/:id',
    { config: { auth: 'viewer' }, schema: { tags: ['plays'], summary: 'One play with its hosts counts', params: IdParams } },
    async (req) => ctx.plays.get(req.params.id),
  );

  app.get(
    '/api/v1/plays/:id/events',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['plays'],
        summary: 'A play log, oldest first after `after`; `next` is the cursor for the next page',
        params: IdParams,
        querystring: EventsQuery,
      },
    },
    async (req) => ctx.plays.events(req.params.id, req.query.after ?? 0, req.query.limit ?? 1000),
  );

  app.get(
    '/api/v1/plays/:id/stream',
    {
      config: { auth: 'viewer', sse: true },
      schema: {
        tags: ['plays', 'streams'],
        summary: 'SSE: `event` (the log so far, then live), then `end` with the play',
        params: IdParams,
        querystring: StreamQuery,
      },
    },
    async (req, reply) => {
      // An unknown play is a plain 404, before the stream opens.
      await ctx.plays.get(req.params.id);
      let stop = () => {};
      let closed = false;
      const stream = openSseStream(reply, 'lossless', resolveSseLimits(), () => {
        closed = true;
        stop();
      });
      stop = followPlay(ctx.plays, req.params.id, req.query.after ?? 0, {
        send: (event, data) => stream.send(event, data),
        end: () => stream.end(),
        ready: () => stream.ready(),
      });
      if (closed) stop();
    },
  );

  app.post(
    '/api/v1/plays/:id/cancel',
    {
      config: { auth: 'operator' },
      schema: { tags: ['plays'], summary: 'Cancel a play: a pending one at once, a running one by SIGINT (SIGKILL after 10 s)', params: IdParams },
    },
    async (req) => audited(req, 'play.cancel', req.params.id, (audit) => ctx.plays.cancel(req.params.id, audit)),
  );
}

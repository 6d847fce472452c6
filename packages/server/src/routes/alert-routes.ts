import { z } from 'zod';
import { ALERT_LIST_STATES, AlertSeverity, CreateSilenceRequest } from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import type { Clock } from '../clock.js';
import type { NodeRegistry } from '../services/node-registry.js';
import type { AlertEngine } from '../alerts/alert-engine.js';
import { createSilence, expireSilence, getAlert, historyViews, listAlerts, listSilences, receiverViews, ruleViews } from '../alerts/alert-api.js';
import { parseSince } from './node-routes.js';
import { audited } from './request-audit.js';

/** What the alert routes need of the server context (ServerContext with `alerts` fits). */
export interface AlertRouteContext {
  alerts: AlertEngine;
  registry: Pick<NodeRegistry, 'resolve'>;
  clock: Clock;
}

const ListQuery = z.strictObject({
  state: z.enum(ALERT_LIST_STATES).optional(),
  rule: z.string().min(1).max(128).optional(),
  node: z.string().min(1).max(200).optional(),
  severity: AlertSeverity.optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
  access_token: z.string().optional(),
});
const HistoryQuery = z.strictObject({
  rule: z.string().min(1).max(128).optional(),
  node: z.string().min(1).max(200).optional(),
  since: z.string().max(32).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
  access_token: z.string().optional(),
});
const SilenceListQuery = z.strictObject({
  state: z.enum(['active', 'all']).optional(),
  access_token: z.string().optional(),
});
const IdParams = z.strictObject({ id: z.string().min(1).max(64) });

/** Alerts (viewer reads) and silences (operator creates and expires). */
export function registerAlertRoutes(app: App, ctx: AlertRouteContext): void {
  const { alerts, registry } = ctx;

  app.get(
    '/api/v1/alerts',
    {
      config: { auth: 'viewer' },
      schema: { tags: ['alerts'], summary: 'Alert instances (state: firing, pending, resolved or silenced)', querystring: ListQuery },
    },
    async (req) => {
      const { state, rule, node, severity, limit } = req.query;
      return listAlerts(alerts, { state, rule, severity, limit, nodeId: node === undefined ? undefined : registry.resolve(node).id });
    },
  );

  app.get(
    '/api/v1/alerts/rules',
    { config: { auth: 'viewer' }, schema: { tags: ['alerts'], summary: 'Alert rules with their pending and firing counts, and the receivers' } },
    async () => {
      return { items: ruleViews(alerts), receivers: receiverViews(alerts) };
    },
  );

  app.get(
    '/api/v1/alerts/history',
    {
      config: { auth: 'viewer' },
      schema: { tags: ['alerts'], summary: 'Recent alert state changes, newest first (in memory, the last 10,000)', querystring: HistoryQuery },
    },
    async (req) => {
      const { rule, node, since, limit } = req.query;
      return {
        items: historyViews(alerts, {
          rule,
          limit,
          since: parseSince(since, ctx.clock.now()),
          nodeId: node === undefined ? undefined : registry.resolve(node).id,
        }),
      };
    },
  );

  app.get(
    '/api/v1/alerts/:id',
    { config: { auth: 'viewer' }, schema: { tags: ['alerts'], summary: 'One alert instance by id', params: IdParams } },
    async (req) => {
      return getAlert(alerts, req.params.id);
    },
  );

  app.post(
    '/api/v1/silences',
    {
      config: { auth: 'operator' },
      schema: { tags: ['alerts'], summary: 'Silence alerts matching label matchers for a duration or until endsAt', body: CreateSilenceRequest },
    },
    async (req, reply) => {
      const by = req.principal ? `token:${req.principal.name}` : 'unknown';
      const view = await audited(req, 'silence.create', null, async (audit) => {
        const created = await createSilence(alerts, req.body, by, (ref) => registry.resolve(ref).id);
        await audit.note({
          action: 'silence.create',
          target: created.id,
          result: 'ok',
          details: { matchers: created.matchers, endsAt: created.endsAt, comment: created.comment },
        });
        return created;
      });
      return reply.status(201).send(view);
    },
  );

  app.get(
    '/api/v1/silences',
    {
      config: { auth: 'viewer' },
      schema: { tags: ['alerts'], summary: 'Silences (state=all includes those expired in the last 24 h)', querystring: SilenceListQuery },
    },
    async (req) => {
      return { items: listSilences(alerts, { includeExpired: req.query.state === 'all' }) };
    },
  );

  app.delete(
    '/api/v1/silences/:id',
    { config: { auth: 'operator' }, schema: { tags: ['alerts'], summary: 'Expire a silence now', params: IdParams } },
    async (req, reply) => {
      await audited(req, 'silence.expire', req.params.id, () => expireSilence(alerts, req.params.id));
      return reply.status(204).send();
    },
  );
}

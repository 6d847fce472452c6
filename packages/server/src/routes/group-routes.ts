import { z } from 'zod';
import { CreateGroupRequest, FleetError, SetVarsRequest, UpdateGroupRequest, VAR_SCOPES, VarName, VarValue } from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import type { GroupsService } from '../groups/groups-service.js';
import { audited } from './request-audit.js';

const NameParams = z.strictObject({ name: z.string().min(1).max(64) });
const RefParams = z.strictObject({ ref: z.string().min(1).max(253) });
const VarsQuery = z.strictObject({
  scope: z.enum(VAR_SCOPES, { error: `scope is one of ${VAR_SCOPES.join(', ')}` }),
  target: z.string().min(1).max(253).optional(),
});
/** A run's extra vars to see merged on top (`vars show -e`), as one JSON object in the query. */
const ResolveQuery = z.strictObject({ extra: z.string().max(65_536).optional() });
const ExtraVars = z.record(VarName, VarValue);

function parseExtra(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new FleetError('invalid_argument', 'extra: not JSON (a JSON object of variables, such as {"install_cuda":false})');
  }
  const parsed = ExtraVars.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FleetError('invalid_argument', `extra${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'a JSON object of variables'}`);
  }
  return parsed.data;
}

/** What the group routes need (a ServerContext fits). */
export interface GroupRouteDeps {
  groups: GroupsService;
}

/** Node groups and layered variables over REST (issue 12); each change is one audit record. */
export function registerGroupRoutes(app: App, ctx: GroupRouteDeps): void {
  app.get(
    '/api/v1/groups',
    { config: { auth: 'viewer' }, schema: { tags: ['groups'], summary: 'Node groups with their members and variables' } },
    async () => ({
      items: await ctx.groups.list(),
    }),
  );

  app.post(
    '/api/v1/groups',
    { config: { auth: 'operator' }, schema: { tags: ['groups'], summary: 'Create a group: static members and/or a label selector', body: CreateGroupRequest } },
    async (req, reply) => {
      const view = await audited(req, 'groups.create', req.body.name, (audit) => ctx.groups.create(req.body, audit));
      return reply.status(201).send(view);
    },
  );

  app.get(
    '/api/v1/groups/:name',
    {
      config: { auth: 'viewer' },
      schema: { tags: ['groups'], summary: 'One group: its nodes now (static and selected) and its variables', params: NameParams },
    },
    async (req) => ctx.groups.get(req.params.name),
  );

  app.patch(
    '/api/v1/groups/:name',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['groups'],
        summary: 'Change priority, description, selector (null drops it) or static members',
        params: NameParams,
        body: UpdateGroupRequest,
      },
    },
    async (req) => audited(req, 'groups.update', req.params.name, (audit) => ctx.groups.update(req.params.name, req.body, audit)),
  );

  app.delete(
    '/api/v1/groups/:name',
    { config: { auth: 'operator' }, schema: { tags: ['groups'], summary: 'Delete a group and its variables (its nodes stay)', params: NameParams } },
    async (req, reply) => {
      await audited(req, 'groups.delete', req.params.name, (audit) => ctx.groups.delete(req.params.name, audit));
      return reply.status(204).send();
    },
  );

  app.get(
    '/api/v1/vars',
    { config: { auth: 'viewer' }, schema: { tags: ['groups'], summary: 'The variables of one scope: global, a group, or a node', querystring: VarsQuery } },
    async (req) => ctx.groups.getVars(req.query.scope, req.query.target),
  );

  app.put(
    '/api/v1/vars',
    { config: { auth: 'operator' }, schema: { tags: ['groups'], summary: 'Set and remove variables of one scope', body: SetVarsRequest } },
    async (req) => {
      const target = req.body.scope === 'global' ? 'global' : `${req.body.scope}:${req.body.target ?? ''}`;
      return audited(req, 'vars.set', target, (audit) => ctx.groups.setVars(req.body, audit));
    },
  );

  app.get(
    '/api/v1/nodes/:ref/vars',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['groups'],
        summary: "A node's variables merged (global < groups by priority < node < extra), each with its origin and what it overrode",
        params: RefParams,
        querystring: ResolveQuery,
      },
    },
    async (req) => {
      const extra = parseExtra(req.query.extra);
      return ctx.groups.resolve(ctx.groups.nodeIdOf(req.params.ref), extra);
    },
  );
}

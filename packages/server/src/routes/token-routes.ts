import { z } from 'zod';
import { CreateApiTokenRequest, CreateJoinTokenRequest, EnrollRequest } from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import type { ServerContext } from '../context.js';
import type { ApiTokenRecord } from '../store/store.js';
import { audited } from './request-audit.js';

const IdParams = z.strictObject({ id: z.string().min(1).max(64) });

function apiTokenView(t: ApiTokenRecord) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return { id: t.id, name: t.name, role: t.role, createdAt: iso(t.createdAt)!, lastUsedAt: iso(t.lastUsedAt), revokedAt: iso(t.revokedAt) };
}

export function registerTokenRoutes(app: App, ctx: ServerContext): void {
  app.post(
    '/api/v1/join-tokens',
    { config: { auth: 'admin' }, schema: { tags: ['join tokens'], summary: 'Create a join token (shown once)', body: CreateJoinTokenRequest } },
    async (req, reply) => {
      const { token, view } = await audited(req, 'join-token.create', null, async (audit) => {
        const created = await ctx.joinTokens.create(req.body, req.principal?.name ?? 'unknown');
        const v = created.view;
        await audit.note({
          action: 'join-token.create',
          target: v.id,
          result: 'ok',
          details: { description: v.description, labels: v.labels, reusable: v.reusable, needsApproval: v.needsApproval, expiresAt: v.expiresAt },
        });
        return created;
      });
      return reply.status(201).send({ ...view, token });
    },
  );
  app.get(
    '/api/v1/join-tokens',
    { config: { auth: 'admin' }, schema: { tags: ['join tokens'], summary: 'List join tokens (secrets are never shown again)' } },
    async () => ({ items: await ctx.joinTokens.list() }),
  );
  app.delete(
    '/api/v1/join-tokens/:id',
    { config: { auth: 'admin' }, schema: { tags: ['join tokens'], summary: 'Revoke a join token', params: IdParams } },
    async (req, reply) => {
      await audited(req, 'join-token.revoke', req.params.id, () => ctx.joinTokens.revoke(req.params.id));
      return reply.status(204).send();
    },
  );

  app.post(
    '/api/v1/api-tokens',
    { config: { auth: 'admin' }, schema: { tags: ['api tokens'], summary: 'Create an API token with a role (shown once)', body: CreateApiTokenRequest } },
    async (req, reply) => {
      const { token, record } = await audited(req, 'api-token.create', null, async (audit) => {
        const created = await ctx.apiTokens.create(req.body.name, req.body.role);
        await audit.note({
          action: 'api-token.create',
          target: created.record.id,
          result: 'ok',
          details: { name: created.record.name, role: created.record.role },
        });
        return created;
      });
      return reply.status(201).send({ ...apiTokenView(record), token });
    },
  );
  app.get('/api/v1/api-tokens', { config: { auth: 'admin' }, schema: { tags: ['api tokens'], summary: 'List API tokens' } }, async () => ({
    items: (await ctx.store.listApiTokens()).map(apiTokenView),
  }));
  app.delete(
    '/api/v1/api-tokens/:id',
    { config: { auth: 'admin' }, schema: { tags: ['api tokens'], summary: 'Revoke an API token', params: IdParams } },
    async (req, reply) => {
      await audited(req, 'api-token.revoke', req.params.id, () => ctx.apiTokens.revoke(req.params.id));
      return reply.status(204).send();
    },
  );

  // The join token itself is the credential here, so no API token is asked for.
  app.post(
    '/api/v1/enroll',
    { config: { auth: 'public' }, schema: { tags: ['agents'], summary: 'Enroll a host with a join token and its Ed25519 key', body: EnrollRequest } },
    async (req, reply) => {
      const result = await ctx.enrollment.enroll(req.body);
      return reply.status(201).send(result);
    },
  );
}

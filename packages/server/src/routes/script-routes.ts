import { z } from 'zod';
import type { App } from '../http/app.js';
import { AddScriptRequest, ScriptName, type ScriptLibrary } from '../scripts/script-library.js';
import { audited } from './request-audit.js';

const NameParams = z.strictObject({ name: ScriptName });
const VersionQuery = z.strictObject({ version: z.coerce.number().int().min(1).max(1_000_000_000).optional() });

/** The signed script library: add a version, list, show one with its content, remove. */
export function registerScriptRoutes(app: App, deps: { scripts: ScriptLibrary }): void {
  app.post(
    '/api/v1/scripts',
    {
      config: { auth: 'operator' },
      schema: { tags: ['scripts'], summary: 'Add a signed script version (the signature must be for the next version)', body: AddScriptRequest },
    },
    async (req, reply) => {
      const script = await audited(req, 'script.add', req.body.name, (audit) => deps.scripts.add(req.body, audit));
      return reply.status(201).send(script);
    },
  );

  app.get('/api/v1/scripts', { config: { auth: 'viewer' }, schema: { tags: ['scripts'], summary: 'The newest version of every script' } }, async () => ({
    items: await deps.scripts.list(),
  }));

  app.get(
    '/api/v1/scripts/:name',
    {
      config: { auth: 'viewer' },
      schema: { tags: ['scripts'], summary: 'One script version with content, signature and history', params: NameParams, querystring: VersionQuery },
    },
    async (req) => {
      return deps.scripts.get(req.params.name, req.query.version);
    },
  );

  app.delete(
    '/api/v1/scripts/:name',
    { config: { auth: 'operator' }, schema: { tags: ['scripts'], summary: 'Mark a script removed (its history stays)', params: NameParams } },
    async (req) => {
      return audited(req, 'script.remove', req.params.name, (audit) => deps.scripts.remove(req.params.name, audit));
    },
  );
}

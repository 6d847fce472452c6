import type { App } from '../http/app.js';
import type { ServerContext } from '../context.js';

/**
 * GET /api/v1/whoami: the name and role of the calling token. The dashboard reads it after
 * sign-in to decide which buttons to show (the server checks the role on every call anyway).
 */
export function registerWhoamiRoutes(app: App, _ctx: ServerContext): void {
  app.get(
    '/api/v1/whoami',
    { config: { auth: 'viewer' }, schema: { tags: ['auth'], summary: 'The name and role of the token making the call' } },
    async (req) => {
      // auth 'viewer' guarantees a principal; the fallback only keeps the type honest.
      const p = req.principal;
      return { name: p?.name ?? 'anonymous', role: p?.role ?? 'viewer' };
    },
  );
}

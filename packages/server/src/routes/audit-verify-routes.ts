import type { App } from '../http/app.js';
import type { Store } from '../store/store.js';
import { verifyAuditChain } from '../audit/audit-verify.js';

/**
 * GET /api/v1/audit/verify: walks the audit hash chain, names the first broken record, and checks
 * the head against the control plane's signed checkpoint.
 */
export function registerAuditVerifyRoutes(app: App, deps: { store: Store; serverDid: string }): void {
  app.get(
    '/api/v1/audit/verify',
    { config: { auth: 'admin' }, schema: { tags: ['audit'], summary: 'Check the audit hash chain and its signed checkpoint; names the first broken record' } },
    async () => verifyAuditChain(deps.store, { serverDid: deps.serverDid }),
  );
}

import { PromoteRequest } from '@gpufleet/protocol';
import { z } from 'zod';
import type { App } from '../http/app.js';
import type { PromoteService } from '../ssh-hosts/promote.js';
import { audited } from './request-audit.js';

/** `{node}`: an id, id prefix or hostname, as the node routes take it. */
const NodeParams = z.strictObject({ node: z.string().min(1, 'node names the host (id, id prefix or hostname)').max(253) });

export interface PromoteRouteDeps {
  promote: PromoteService;
}

/**
 * POST /api/v1/ssh-hosts/{node}/promote (issue 12, the route table in protocol/job-center.ts):
 * admin only (it installs and starts software as root on the host), audited as ssh-hosts.promote
 * with the steps taken, and on failure the step that failed.
 */
export function registerPromoteRoutes(app: App, deps: PromoteRouteDeps): void {
  app.post(
    '/api/v1/ssh-hosts/:node/promote',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['ssh-hosts'],
        summary: 'Make an SSH node an agent host: the agent is installed if missing, given the node key, joined and started; the node keeps its id',
        params: NodeParams,
        body: PromoteRequest,
      },
    },
    async (req) => audited(req, 'ssh-hosts.promote', req.params.node, (audit) => deps.promote.promote(req.params.node, req.body, audit)),
  );
}

import type { ReplicaList } from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import type { ReplicaStatus } from '../replicas/replica-status.js';

/** GET /api/v1/replicas: the live control-plane replicas, as the answering one sees them (issue 13). */
export function registerReplicaRoutes(app: App, deps: { replicas: ReplicaStatus }): void {
  app.get(
    '/api/v1/replicas',
    { config: { auth: 'viewer' }, schema: { tags: ['replicas'], summary: 'The live control-plane replicas: address, agents and leases held, last heartbeat' } },
    async (): Promise<ReplicaList> => ({ replicas: deps.replicas.list() }),
  );
}

import { useQuery } from '@tanstack/react-query';
import { query } from '../lib/api.js';
import { useApi } from '../lib/auth.js';
import type { AllocationView } from '../lib/workloads.js';
import { AllocationsTable } from './allocations-table.js';
import { QueryView } from './states.js';

/** How often a node's allocations are read again. */
const REFRESH_MS = 10_000;

/** The workload allocations on one node now: which job, which GPUs, status and health. */
export function NodeAllocations({ nodeId }: { nodeId: string }) {
  const api = useApi();
  const q = useQuery({
    queryKey: ['allocations', 'node', nodeId],
    queryFn: () => api.get<{ items: AllocationView[] }>(`/api/v1/allocations${query({ node: nodeId, active: true })}`),
    refetchInterval: REFRESH_MS,
  });
  return (
    <section className="section" data-testid="node-allocations">
      <h2>Allocations</h2>
      <QueryView q={q} what="Loading allocations">
        {(d) => <AllocationsTable allocations={d.items} show="job" empty="No workload allocations on this node." />}
      </QueryView>
    </section>
  );
}

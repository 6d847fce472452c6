import { useMemo } from 'react';
import { useQuery } from '@tanstack/react-query';
import type { FleetHeatmap } from '@gpufleet/protocol';
import { useApi } from './auth.js';
import { buildHeatmap, heatNodesFromResponse, HEATMAP_QUERY_KEY } from './heatmap.js';
import { allocMarksFrom, NO_ALLOCS, sameAllocMarks, withAllocations } from './heatmap-allocs.js';
import type { AllocationView } from './workloads.js';

/** How often the allocations holding GPUs are read again: they start and stop on their own. */
const ALLOCS_REFRESH_MS = 10_000;

/** The GPUs held by workload allocations now, polled; none while the answer is missing or refused. */
function useAllocMarks() {
  const api = useApi();
  const q = useQuery({
    queryKey: ['allocations', 'active', 'marks'],
    queryFn: async () => allocMarksFrom((await api.get<{ items: AllocationView[] }>('/api/v1/allocations?active=true')).items),
    refetchInterval: ALLOCS_REFRESH_MS,
    // The same marks keep the same object, so an unchanged poll redraws nothing.
    structuralSharing: (old, next) => (old instanceof Map && next instanceof Map && sameAllocMarks(old, next) ? old : next),
  });
  return q.data ?? NO_ALLOCS;
}

/**
 * The fleet's heatmap model: fetched compact (GET /api/v1/fleet/heatmap), patched by the live
 * stream (lib/live.tsx), refetched every minute to repair anything a dropped event missed, with
 * the GPUs held by workload allocations marked (polled every 10 s). A refused allocations call
 * leaves the heatmap as it is, unmarked.
 */
export function useFleetHeatmap() {
  const api = useApi();
  const marks = useAllocMarks();
  const q = useQuery({
    queryKey: HEATMAP_QUERY_KEY,
    queryFn: async () => buildHeatmap(heatNodesFromResponse(await api.get<FleetHeatmap>('/api/v1/fleet/heatmap'))),
    refetchInterval: 60_000,
    // Deep-comparing 80,000 cells on every update would cost more than drawing them.
    structuralSharing: false,
  });
  const data = useMemo(() => (q.data ? withAllocations(q.data, marks) : undefined), [q.data, marks]);
  return { ...q, data };
}

import { useQuery } from '@tanstack/react-query';
import type { FleetHeatmap } from '@gpufleet/protocol';
import { useApi } from './auth.js';
import { buildHeatmap, heatNodesFromResponse, HEATMAP_QUERY_KEY } from './heatmap.js';

/**
 * The fleet's heatmap model: fetched compact (GET /api/v1/fleet/heatmap), patched by the live
 * stream (lib/live.tsx), refetched every minute to repair anything a dropped event missed.
 */
export function useFleetHeatmap() {
  const api = useApi();
  return useQuery({
    queryKey: HEATMAP_QUERY_KEY,
    queryFn: async () => buildHeatmap(heatNodesFromResponse(await api.get<FleetHeatmap>('/api/v1/fleet/heatmap'))),
    refetchInterval: 60_000,
    // Deep-comparing 80,000 cells on every update would cost more than drawing them.
    structuralSharing: false,
  });
}

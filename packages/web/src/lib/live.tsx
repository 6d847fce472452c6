import { createContext, useContext, useMemo, useRef, type ReactNode } from 'react';
import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import type { NodeView } from '@gpufleet/protocol';
import { StreamRegistry, useEventStream, type StreamStatus } from './sse.js';
import { useApi } from './auth.js';
import { HEATMAP_QUERY_KEY, patchHeatmap, type HeatmapModel } from './heatmap.js';

interface LiveValue {
  registry: StreamRegistry;
  fleetStatus: StreamStatus;
}

const LiveContext = createContext<LiveValue | null>(null);

type NodeList = { items: NodeView[]; total: number };

/** Puts changed node views into every cached node list and node; drops removed ones. */
export function applyNodeBatch(qc: QueryClient, items: NodeView[], removed: string[]): void {
  const byId = new Map(items.map((n) => [n.id, n]));
  const gone = new Set(removed);
  const patch = (list: NodeList | undefined, appendNew: boolean): NodeList | undefined => {
    if (!list) return list;
    const seen = new Set<string>();
    const next = list.items.filter((n) => !gone.has(n.id)).map((n) => {
      seen.add(n.id);
      return byId.get(n.id) ?? n;
    });
    // Only the whole-fleet list can take nodes it did not have: a filtered page cannot know they match.
    if (appendNew) for (const n of items) if (!seen.has(n.id)) next.push(n);
    return { items: next, total: list.total + (next.length - list.items.length) };
  };
  qc.setQueryData<NodeList>(['nodes', 'all'], (l) => patch(l, true));
  qc.setQueriesData<NodeList>({ queryKey: ['nodes', 'page'] }, (l) => patch(l, false));
  qc.setQueryData<HeatmapModel>(HEATMAP_QUERY_KEY, (m) => (m ? patchHeatmap(m, items, removed) : m));
  // Only nodes someone has open: creating a cache entry per changed node would keep every view
  // of a 10,000-node fleet in memory.
  for (const n of items) {
    for (const key of [['node', n.id], ['node', n.hostname]]) if (qc.getQueryData(key) !== undefined) qc.setQueryData(key, n);
  }
}

/** Opens the fleet stream for the whole signed-in app and keeps the query cache current. */
export function LiveProvider({ children }: { children: ReactNode }) {
  const api = useApi();
  const qc = useQueryClient();
  const registry = useMemo(() => new StreamRegistry(), []);
  const lastInvalidate = useRef(0);
  const url = useMemo(() => api.streamUrl('/api/v1/stream'), [api]);
  const fleetStatus = useEventStream(
    url,
    {
      nodes: (data) => {
        const d = data as { items?: NodeView[]; removed?: string[] };
        applyNodeBatch(qc, Array.isArray(d.items) ? d.items : [], Array.isArray(d.removed) ? d.removed : []);
        // Counts, alerts and events follow node changes; refetch them at most every 2 s.
        const now = Date.now();
        if (now - lastInvalidate.current > 2000) {
          lastInvalidate.current = now;
          void qc.invalidateQueries({ queryKey: ['summary'] });
          void qc.invalidateQueries({ queryKey: ['alerts'] });
          void qc.invalidateQueries({ queryKey: ['events'] });
        }
      },
    },
    registry,
  );
  const value = useMemo(() => ({ registry, fleetStatus }), [registry, fleetStatus]);
  return <LiveContext.Provider value={value}>{children}</LiveContext.Provider>;
}

export function useLive(): LiveValue {
  const v = useContext(LiveContext);
  if (!v) throw new Error('useLive outside LiveProvider');
  return v;
}

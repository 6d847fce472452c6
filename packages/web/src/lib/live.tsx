import { createContext, useContext, useMemo, useRef, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { StreamRegistry, useEventStream, type StreamStatus } from './sse.js';
import { useApi } from './auth.js';
import { HEATMAP_QUERY_KEY } from './heatmap.js';
import { applyNodeBatch, nodeBatchOf } from './live-batch.js';

interface LiveValue {
  registry: StreamRegistry;
  fleetStatus: StreamStatus;
}

const LiveContext = createContext<LiveValue | null>(null);

/** How often counts, alerts and events are refetched while nodes change. */
const FOLLOW_UP_MS = 2000;
/** How often, at most, the heatmap is fetched again because a delta named a node it lacks. */
const HEATMAP_REPAIR_MS = 15_000;

/** Opens the fleet stream for the whole signed-in app and keeps the query cache current. */
export function LiveProvider({ children }: { children: ReactNode }) {
  const api = useApi();
  const qc = useQueryClient();
  const registry = useMemo(() => new StreamRegistry(), []);
  const lastFollowUp = useRef(0);
  const lastHeatmapRepair = useRef(0);
  const hellos = useRef(0);
  const url = useMemo(() => api.streamUrl('/api/v1/stream'), [api]);
  const fleetStatus = useEventStream(
    url,
    {
      // Every connection starts with `hello`. After a reconnect, what changed while the stream
      // was down (or too far behind to be written to) is read again.
      hello: () => {
        if (hellos.current++ === 0) return;
        void qc.invalidateQueries({ queryKey: ['nodes'] });
        void qc.invalidateQueries({ queryKey: ['node'] });
        void qc.invalidateQueries({ queryKey: HEATMAP_QUERY_KEY });
      },
      nodes: (data) => {
        const { heatmapStale } = applyNodeBatch(qc, nodeBatchOf(data));
        const now = Date.now();
        if (heatmapStale && now - lastHeatmapRepair.current > HEATMAP_REPAIR_MS) {
          lastHeatmapRepair.current = now;
          void qc.invalidateQueries({ queryKey: HEATMAP_QUERY_KEY });
        }
        // Counts, alerts and events follow node changes; refetch them at most every 2 s.
        if (now - lastFollowUp.current > FOLLOW_UP_MS) {
          lastFollowUp.current = now;
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

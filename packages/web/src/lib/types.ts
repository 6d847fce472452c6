import type { AlertView, NodeView, TimelineEntry } from '@gpufleet/protocol';

/** GET /api/v1/fleet/summary */
export interface FleetSummary {
  nodes: { total: number; byStatus: Record<string, number> };
  gpus: { total: number; byModel: Record<string, number>; byVendor: Record<string, number> };
  powerDrawW: number;
  avgGpuUtilPct: number | null;
}
export type NodeList = { items: NodeView[]; total: number };
export type AlertList = { items: AlertView[] };
export type EventList = { items: TimelineEntry[] };

/** GET /api/v1/runs items: the shapes the server writes (protocol run-views.ts). */
export type { RunTargetView, RunView } from '@gpufleet/protocol';

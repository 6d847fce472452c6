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

/** GET /api/v1/runs items (server/src/runs/run-views.ts). */
export interface RunTargetView {
  nodeId: string;
  hostname: string;
  batch: number;
  state: string;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  sentAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  outputBytes: number;
  truncated: boolean;
}
export interface RunView {
  id: string;
  state: string;
  createdBy: string;
  invoker: string;
  capabilityId: string | null;
  ability: string;
  selector: string;
  command: { kind: string; summary: string; timeoutMs: number; cwd: string | null; runAs: string | null; env: string[]; issuedAt: string };
  reason: string | null;
  canceledBy: string | null;
  createdAt: string;
  finishedAt: string | null;
  deadline: string;
  total: number;
  counts: Partial<Record<string, number>>;
  targets?: RunTargetView[];
}

import { GPU_STATES, REPORTED_VERDICTS, type FleetHeatmap, type NodeView } from '@gpufleet/protocol';

/** What the heatmap needs of a node: a small part of its view (see NodeRegistry.heatmapRow). */
export interface HeatmapNode {
  id: string;
  hostname: string;
  status: NodeView['status'];
  connected: boolean;
  /** Epoch ms of the node's last frame; null: never heard from. */
  lastSeen?: number | null;
  gpus: ReadonlyArray<{
    index: number;
    name: string | null;
    sample: { utilizationPct: number | null; temperatureC: number | null; powerDrawW: number | null } | null;
    state: string;
    health: { verdict: string };
  }>;
}

/** A reading rounded to a whole unit; null for none (or garbage). */
function whole(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? Math.round(v) : null;
}

/**
 * Packs node views into the heatmap's parallel arrays (see FleetHeatmap): one entry per node and
 * one per GPU, with models, verdicts and states as indexes into small tables. Decommissioned
 * nodes are left out, as on the dashboard.
 */
export function fleetHeatmap(views: Iterable<HeatmapNode>, at: number): FleetHeatmap {
  const models: string[] = [];
  const modelIndex = new Map<string, number>();
  const verdictIndex = new Map<string, number>(REPORTED_VERDICTS.map((v, i) => [v, i]));
  const stateIndex = new Map<string, number>(GPU_STATES.map((s, i) => [s, i]));
  const out: FleetHeatmap = {
    at: new Date(at).toISOString(),
    models,
    verdicts: [...REPORTED_VERDICTS],
    states: [...GPU_STATES],
    nodes: { id: [], hostname: [], status: [], connected: [], gpuCount: [] },
    lastSeen: [],
    gpus: { index: [], model: [], util: [], temp: [], power: [], health: [], state: [] },
  };
  const { nodes, gpus } = out;
  for (const view of views) {
    if (view.status === 'DECOMMISSIONED') continue;
    nodes.id.push(view.id);
    nodes.hostname.push(view.hostname);
    nodes.status.push(view.status);
    nodes.connected.push(view.connected);
    nodes.gpuCount.push(view.gpus.length);
    out.lastSeen!.push(view.lastSeen ?? null);
    for (const g of view.gpus) {
      const name = g.name ?? 'unknown';
      let m = modelIndex.get(name);
      if (m === undefined) {
        m = models.push(name) - 1;
        modelIndex.set(name, m);
      }
      gpus.index.push(g.index);
      gpus.model.push(m);
      gpus.util.push(whole(g.sample?.utilizationPct));
      gpus.temp.push(whole(g.sample?.temperatureC));
      gpus.power.push(whole(g.sample?.powerDrawW));
      gpus.health.push(verdictIndex.get(g.health.verdict) ?? verdictIndex.get('unknown')!);
      gpus.state.push(stateIndex.get(g.state) ?? 0);
    }
  }
  return out;
}

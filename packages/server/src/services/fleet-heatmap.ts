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
 * nodes are left out, as on the dashboard. Nodes are added one at a time, so a caller may give
 * the event loop back between them (the whole fleet at 100,000 nodes is seconds of work).
 */
export class HeatmapBuilder {
  readonly heatmap: FleetHeatmap;
  private readonly modelIndex = new Map<string, number>();
  private readonly verdictIndex = new Map<string, number>(REPORTED_VERDICTS.map((v, i) => [v, i]));
  private readonly stateIndex = new Map<string, number>(GPU_STATES.map((s, i) => [s, i]));

  constructor(at: number) {
    this.heatmap = {
      at: new Date(at).toISOString(),
      models: [],
      verdicts: [...REPORTED_VERDICTS],
      states: [...GPU_STATES],
      nodes: { id: [], hostname: [], status: [], connected: [], gpuCount: [] },
      lastSeen: [],
      gpus: { index: [], model: [], util: [], temp: [], power: [], health: [], state: [] },
    };
  }

  add(view: HeatmapNode): void {
    if (view.status === 'DECOMMISSIONED') return;
    const { nodes, gpus, models } = this.heatmap;
    nodes.id.push(view.id);
    nodes.hostname.push(view.hostname);
    nodes.status.push(view.status);
    nodes.connected.push(view.connected);
    nodes.gpuCount.push(view.gpus.length);
    this.heatmap.lastSeen!.push(view.lastSeen ?? null);
    for (const g of view.gpus) {
      const name = g.name ?? 'unknown';
      let m = this.modelIndex.get(name);
      if (m === undefined) {
        m = models.push(name) - 1;
        this.modelIndex.set(name, m);
      }
      gpus.index.push(g.index);
      gpus.model.push(m);
      gpus.util.push(whole(g.sample?.utilizationPct));
      gpus.temp.push(whole(g.sample?.temperatureC));
      gpus.power.push(whole(g.sample?.powerDrawW));
      gpus.health.push(this.verdictIndex.get(g.health.verdict) ?? this.verdictIndex.get('unknown')!);
      gpus.state.push(this.stateIndex.get(g.state) ?? 0);
    }
  }
}

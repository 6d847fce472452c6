import type { NodeView, ReportedVerdict } from '@gpufleet/protocol';
import { shortModel } from './format.js';

/** One heatmap cell: a GPU with what its colour, outline and hover title are made of. */
export interface HeatCell {
  key: string;
  hostname: string;
  nodeId: string;
  index: number;
  model: string;
  util: number | null;
  temp: number | null;
  power: number | null;
  health: ReportedVerdict;
  state: string;
  offline: boolean;
}

/**
 * Utilization as a colour on a blue -> amber -> red ramp that reads in both themes; null (no
 * reading) and offline GPUs are grey so an idle GPU (0%) is never mistaken for a silent one.
 */
export function utilColor(util: number | null | undefined, offline = false): string {
  if (offline || typeof util !== 'number' || !Number.isFinite(util)) return 'var(--heat-none)';
  const u = Math.min(100, Math.max(0, util)) / 100;
  // Hue from 210 (blue, idle) through 45 (amber) to 0 (red, saturated).
  const hue = u < 0.7 ? 210 - (u / 0.7) * 165 : 45 - ((u - 0.7) / 0.3) * 45;
  const light = 62 - u * 14;
  return `hsl(${Math.round(hue)} 80% ${Math.round(light)}%)`;
}

/** The outline class for a verdict: healthy GPUs get none, the rest an unmistakable ring. */
export function healthOutline(health: ReportedVerdict | string | null | undefined): 'none' | 'degraded' | 'unhealthy' | 'unknown' {
  switch (health) {
    case 'healthy':
      return 'none';
    case 'degraded':
      return 'degraded';
    case 'unhealthy':
      return 'unhealthy';
    default:
      return 'unknown';
  }
}

/** Hover text: node, GPU, model and the readings. */
export function cellTitle(c: HeatCell): string {
  const fmt = (v: number | null, unit: string) => (v === null ? '—' : `${Math.round(v)}${unit}`);
  return `${c.hostname} · GPU ${c.index} · ${c.model}\nutil ${fmt(c.util, '%')} · ${fmt(c.temp, ' °C')} · ${fmt(c.power, ' W')}\nhealth ${c.health}${c.state !== 'READY' ? ` · ${c.state}` : ''}${c.offline ? ' · node offline' : ''}`;
}

/** Every GPU of the given nodes as cells, ordered by hostname then GPU index. */
export function heatCells(nodes: readonly NodeView[]): HeatCell[] {
  const cells: HeatCell[] = [];
  const sorted = [...nodes].sort((a, b) => a.hostname.localeCompare(b.hostname, undefined, { numeric: true }));
  for (const n of sorted) {
    if (n.status === 'DECOMMISSIONED') continue;
    const offline = n.status === 'OFFLINE' || !n.connected;
    for (const g of [...n.gpus].sort((a, b) => a.index - b.index)) {
      cells.push({
        key: `${n.id}/${g.index}`,
        hostname: n.hostname,
        nodeId: n.id,
        index: g.index,
        model: shortModel(g.name),
        util: g.sample?.utilizationPct ?? null,
        temp: g.sample?.temperatureC ?? null,
        power: g.sample?.powerDrawW ?? null,
        health: g.health.verdict,
        state: g.state,
        offline,
      });
    }
  }
  return cells;
}

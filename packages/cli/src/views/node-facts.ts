import type { GpuView, NodeView } from '@gpufleet/protocol';

/** Shown ids are the first 16 characters of the node's did:key (enough with the hostname beside it). */
export function shortId(id: string): string {
  return id.slice(0, 16);
}

const VENDOR_PREFIX = /^(NVIDIA|AMD|Intel\(R\)|Intel|Huawei)\s+/i;

/** "NVIDIA H100 80GB HBM3" -> "H100 80GB HBM3"; the vendor is in another column or obvious. */
export function shortGpuName(name: string | null): string {
  if (!name) return 'unknown GPU';
  return name.replace(VENDOR_PREFIX, '').trim() || name;
}

/** "8x H100 80GB HBM3", or "4x A100-SXM4-40GB, 2x L40S" for a mixed host; "-" without GPUs. */
export function gpuSummary(gpus: readonly Pick<GpuView, 'name'>[]): string {
  if (gpus.length === 0) return '-';
  const counts = new Map<string, number>();
  for (const g of gpus) {
    const name = shortGpuName(g.name);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts].map(([name, n]) => `${n}x ${name}`).join(', ');
}

function readings(node: NodeView, pick: (g: GpuView) => number | null | undefined): number[] {
  return node.gpus.map(pick).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
}

/** Mean GPU utilization over the node's GPUs that report one; null when none does. */
export function avgGpuUtil(node: NodeView): number | null {
  const values = readings(node, (g) => g.sample?.utilizationPct);
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
}

/** The hottest GPU's temperature (the one that matters for throttling). */
export function maxGpuTemp(node: NodeView): number | null {
  const values = readings(node, (g) => g.sample?.temperatureC);
  return values.length ? Math.max(...values) : null;
}

export function totalPower(node: NodeView): number | null {
  const values = readings(node, (g) => g.sample?.powerDrawW);
  return values.length ? values.reduce((a, b) => a + b, 0) : null;
}

/** "k=v,k2=v2", sorted for stable output. */
export function labelText(labels: Readonly<Record<string, string>>): string {
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '-';
}

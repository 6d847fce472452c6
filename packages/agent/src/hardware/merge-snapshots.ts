import { normalizePciBusId, type GpuSnapshot } from '@gpufleet/protocol';

/** Result of laying fresh readings over the last full inventory. */
export interface SnapshotMerge {
  /** One snapshot per fresh reading, in the fresh reading's order. */
  merged: GpuSnapshot[];
  /** Fresh readings whose GPU the inventory did not have (hot-plugged, or came back). */
  unmatchedFresh: number;
  /** Inventory GPUs absent from the fresh readings (fell off the bus, unbound). */
  unmatchedBase: number;
}

/**
 * Lays fresh readings (a fast, partial query) over the last full inventory of the same tool.
 * A fresh GPU finds its inventory entry by UUID, else (where one side has no UUID) by PCI bus
 * id, and only when it carries neither (amd-smi metric has no identity block) by the tool's
 * own index, which is stable between two runs of one tool seconds apart. Non-null fresh values win; nulls keep the
 * inventory value, since the fast query does not ask for everything the full one reads.
 */
export function mergeSnapshots(base: GpuSnapshot[], fresh: GpuSnapshot[]): SnapshotMerge {
  const used = new Set<GpuSnapshot>();
  let unmatchedFresh = 0;
  const merged = fresh.map((f) => {
    const match = findMatch(base, f, used);
    if (!match) {
      unmatchedFresh++;
      return f;
    }
    used.add(match);
    return overlay(match, f);
  });
  return { merged, unmatchedFresh, unmatchedBase: base.length - used.size };
}

function findMatch(base: GpuSnapshot[], f: GpuSnapshot, used: Set<GpuSnapshot>): GpuSnapshot | undefined {
  const free = base.filter((b) => !used.has(b) && b.vendor === f.vendor);
  if (f.uuid) {
    const byUuid = free.find((b) => b.uuid === f.uuid);
    if (byUuid) return byUuid;
  }
  const bus = normalizePciBusId(f.pciBusId);
  if (bus) {
    // Two different UUIDs in one slot are two GPUs (the board was swapped), not one.
    const byBus = free.find((b) => normalizePciBusId(b.pciBusId) === bus && !(b.uuid && f.uuid));
    if (byBus) return byBus;
  }
  if (!f.uuid && !bus) return free.find((b) => b.index === f.index);
  return undefined;
}

function overlay(base: GpuSnapshot, fresh: GpuSnapshot): GpuSnapshot {
  const out: GpuSnapshot = { ...base };
  const target = out as Record<keyof GpuSnapshot, unknown>;
  for (const key of Object.keys(fresh) as (keyof GpuSnapshot)[]) {
    const value = fresh[key];
    if (value === null || value === undefined) continue;
    // An empty list from a query that cannot list MIG devices says nothing about them.
    if (key === 'migDevices' && Array.isArray(value) && value.length === 0) continue;
    target[key] = value;
  }
  return out;
}

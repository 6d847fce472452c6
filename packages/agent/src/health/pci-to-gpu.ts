import { normalizePciBusId, type GpuInfo } from '@gpufleet/protocol';

type GpuIds = Pick<GpuInfo, 'uuid' | 'pciBusId'>;

/** The UUID of the GPU at a PCI address in this inventory, or null when none is there (or it has no UUID). */
export function gpuUuidForPci(pciBusId: string | null | undefined, gpus: readonly GpuIds[]): string | null {
  const want = normalizePciBusId(pciBusId);
  if (!want) return null;
  for (const g of gpus) if (g.uuid && normalizePciBusId(g.pciBusId) === want) return g.uuid;
  return null;
}

/**
 * PCI address -> GPU UUID for kernel events, remembering every GPU seen since start: a GPU
 * that fell off the bus is gone from the next inventory, but its Xid lines still name its
 * address. A later GPU at the same address replaces the earlier one.
 */
export class PciGpuMap {
  private readonly byPci = new Map<string, string>();

  /** Adds (or updates) the GPUs of an inventory or readout. */
  update(gpus: readonly GpuIds[]): void {
    for (const g of gpus) {
      const pci = normalizePciBusId(g.pciBusId);
      const uuid = g.uuid?.trim();
      if (!pci || !uuid) continue;
      this.byPci.set(pci, uuid);
      // A host has tens of GPUs; the bound only guards against a broken tool inventing addresses.
      if (this.byPci.size > 512) this.byPci.delete(this.byPci.keys().next().value!);
    }
  }

  uuidFor(pciBusId: string | null | undefined): string | null {
    const pci = normalizePciBusId(pciBusId);
    return pci ? (this.byPci.get(pci) ?? null) : null;
  }

  get size(): number {
    return this.byPci.size;
  }
}

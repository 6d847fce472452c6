import { FleetError, normalizePciBusId, type GpuInfo } from '@gpufleet/protocol';

/**
 * The key a GPU's state and health are kept under: its UUID, else its PCI bus id, else `#index`
 * (the same key the registry matches samples with). GPUs are never keyed by index when they
 * have anything better (DESIGN.md §4).
 */
export function gpuKeyOf(g: { uuid: string | null; pciBusId: string | null; index: number }): string {
  return g.uuid ?? g.pciBusId ?? `#${g.index}`;
}

/** The node's GPU an event is about (by UUID, else by PCI bus id in any spelling); null if none. */
export function findGpu(gpus: readonly GpuInfo[], uuid: string | null, pciBusId: string | null): GpuInfo | null {
  if (uuid) {
    const byUuid = gpus.find((g) => g.uuid === uuid);
    if (byUuid) return byUuid;
  }
  const pci = normalizePciBusId(pciBusId);
  if (pci) {
    const byPci = gpus.find((g) => normalizePciBusId(g.pciBusId) === pci);
    if (byPci) return byPci;
  }
  return null;
}

/**
 * The key an agent event's finding goes under: the inventory's GPU (by UUID, else PCI bus id),
 * else the UUID the agent tied the event to (a GPU it saw that the inventory no longer lists, as
 * after falling off the bus), else null. A PCI address where no GPU is known, or none at all (a
 * redacted kernel line), is about the node: never a finding for a GPU that does not exist.
 */
export function eventGpuKey(gpus: readonly GpuInfo[], uuid: string | null, pciBusId: string | null): string | null {
  const gpu = findGpu(gpus, uuid, pciBusId);
  return gpu ? gpuKeyOf(gpu) : uuid || null;
}

/**
 * A GPU of a node as a person names it: UUID (or a unique UUID prefix of 8+ characters), PCI bus
 * id in any spelling, or index. Throws not_found / invalid_argument naming what was tried.
 */
export function resolveGpuRef(hostname: string, gpus: readonly GpuInfo[], ref: string): GpuInfo {
  const text = ref.trim();
  if (text === '') throw new FleetError('invalid_argument', 'the GPU is empty: give its UUID, PCI bus id or index');
  if (/^\d{1,3}$/.test(text)) {
    const byIndex = gpus.filter((g) => g.index === Number(text));
    if (byIndex.length === 1) return byIndex[0]!;
    throw new FleetError('not_found', `node ${hostname} has no GPU with index ${text} (it has ${gpus.length} GPU${gpus.length === 1 ? '' : 's'})`);
  }
  const exact = gpus.find((g) => g.uuid === text || g.uuid?.toLowerCase() === text.toLowerCase());
  if (exact) return exact;
  const pci = normalizePciBusId(text);
  if (pci) {
    const byPci = gpus.find((g) => normalizePciBusId(g.pciBusId) === pci);
    if (byPci) return byPci;
  }
  if (text.length >= 8) {
    const prefixed = gpus.filter((g) => g.uuid?.toLowerCase().startsWith(text.toLowerCase()));
    if (prefixed.length === 1) return prefixed[0]!;
    if (prefixed.length > 1) throw new FleetError('conflict', `'${text}' matches ${prefixed.length} GPUs of node ${hostname}; give more of the UUID`);
  }
  throw new FleetError('not_found', `node ${hostname} has no GPU '${text}' (give a UUID, a PCI bus id such as 0000:17:00.0, or an index)`);
}

import { normalizePciBusId, type GpuSnapshot } from '@gpufleet/protocol';

/**
 * The stable key of a GPU. GPUs are keyed by UUID and PCI bus id, never by enumeration order:
 * indexes shift when a GPU falls off the bus or CUDA_VISIBLE_DEVICES changes. The vendor index
 * is only the last resort, for tools that report neither.
 */
export function gpuKey(s: Pick<GpuSnapshot, 'uuid' | 'pciBusId' | 'vendor' | 'index'>): string {
  const uuid = s.uuid?.trim();
  if (uuid) return uuid;
  const bus = s.pciBusId?.trim();
  // Tools write bus ids differently (00000000:17:00.0, 0000:17:00.0): one form keeps one key.
  if (bus) return `pci:${normalizePciBusId(bus) ?? bus.toLowerCase()}`;
  return `${s.vendor}:${s.index}`;
}

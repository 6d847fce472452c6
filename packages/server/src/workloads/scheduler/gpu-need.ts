import type { GpuVendor, ResourceSpec } from '@gpufleet/protocol';

/** What an allocation asks of each GPU it gets, in the form the scheduler compares against. */
export interface GpuNeed {
  /** GPUs wanted; 0 for a CPU-only allocation. */
  count: number;
  vendor: GpuVendor | null;
  /** Accepted model names as written (for messages), and lower-cased (for matching); null: any model. */
  models: readonly string[] | null;
  modelsLower: readonly string[] | null;
  memoryMin: number | null;
}

export function gpuNeedOf(resources: ResourceSpec): GpuNeed {
  const models = resources.gpu_model && resources.gpu_model.length > 0 ? resources.gpu_model : null;
  return {
    count: resources.gpus,
    vendor: resources.gpu_vendor ?? null,
    models,
    modelsLower: models ? models.map((m) => m.toLowerCase()) : null,
    memoryMin: resources.gpu_memory_min ?? null,
  };
}

/** A stable key of everything a GPU kind is matched on, so kind lists can be cached per need. */
export function gpuNeedKey(need: GpuNeed): string {
  return `${need.vendor ?? '*'}\u0000${need.modelsLower?.join('\u0001') ?? '*'}\u0000${need.memoryMin ?? '*'}`;
}

export function vendorFits(vendor: GpuVendor, need: GpuNeed): boolean {
  return need.vendor === null || need.vendor === vendor;
}

/** A GPU matches when its name contains one of the accepted models, case-insensitive; an unnamed GPU matches no model list. */
export function modelFits(nameLower: string | null, need: GpuNeed): boolean {
  if (need.modelsLower === null) return true;
  if (nameLower === null) return false;
  for (const m of need.modelsLower) if (nameLower.includes(m)) return true;
  return false;
}

/** A GPU whose memory the inventory does not report cannot prove it has enough. */
export function memoryFits(memoryTotalBytes: number | null, need: GpuNeed): boolean {
  return need.memoryMin === null || (memoryTotalBytes !== null && memoryTotalBytes >= need.memoryMin);
}

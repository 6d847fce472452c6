// Pure (no zod, no node:*) so the dashboard can import it by relative path like node-sort.ts.

/**
 * What GET /api/v1/gpus can sort by: `node` is the node's hostname (then its id, then the GPU
 * index), `model` the GPU's short model (H100, MI300X), `memory` its used memory in bytes; util,
 * temp and power its latest readings. GPUs without a reading sort last both ways.
 */
export const GPU_SORT_KEYS = ['node', 'model', 'util', 'temp', 'power', 'memory'] as const;
export type GpuSortKey = (typeof GPU_SORT_KEYS)[number];

/** A sort key, or the key with a `-` in front for descending: `temp`, `-temp`. */
export type GpuSort = GpuSortKey | `-${GpuSortKey}`;

/** Every accepted `sort` value, ascending ones first (the OpenAPI enum). */
export const GPU_SORTS = [...GPU_SORT_KEYS, ...GPU_SORT_KEYS.map((k) => `-${k}` as const)] as readonly GpuSort[] as readonly [GpuSort, ...GpuSort[]];

/** The message for a `sort` value that is none of GPU_SORTS. */
export const GPU_SORT_HELP = `sort must be one of ${GPU_SORT_KEYS.join(', ')}, with a leading '-' for descending (e.g. -temp)`;

export function isGpuSort(text: unknown): text is GpuSort {
  return typeof text === 'string' && (GPU_SORTS as readonly string[]).includes(text);
}

/** `-temp` -> { key: 'temp', descending: true }; throws GPU_SORT_HELP for anything else. */
export function parseGpuSort(text: string): { key: GpuSortKey; descending: boolean } {
  if (!isGpuSort(text)) throw new Error(`'${text}' is not a sort order: ${GPU_SORT_HELP}`);
  const descending = text.startsWith('-');
  return { key: (descending ? text.slice(1) : text) as GpuSortKey, descending };
}

export function formatGpuSort(key: GpuSortKey, descending: boolean): GpuSort {
  return descending ? `-${key}` : key;
}

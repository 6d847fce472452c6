// Pure (no zod, no node:*) so the dashboard can import it by relative path like selector.ts.

/**
 * What GET /api/v1/nodes can sort by. util is the mean of the node's GPUs' latest utilization,
 * temp its hottest GPU, power the sum of its GPUs' draw; lastSeen the last frame from it.
 */
export const NODE_SORT_KEYS = ['hostname', 'status', 'gpus', 'util', 'temp', 'power', 'lastSeen'] as const;
export type NodeSortKey = (typeof NODE_SORT_KEYS)[number];

/** A sort key, or the key with a `-` in front for descending: `temp`, `-temp`. */
export type NodeSort = NodeSortKey | `-${NodeSortKey}`;

/** Every accepted `sort` value, ascending ones first (the OpenAPI enum). */
export const NODE_SORTS = [...NODE_SORT_KEYS, ...NODE_SORT_KEYS.map((k) => `-${k}` as const)] as readonly NodeSort[] as readonly [NodeSort, ...NodeSort[]];

/** The message for a `sort` value that is none of NODE_SORTS. */
export const NODE_SORT_HELP = `sort must be one of ${NODE_SORT_KEYS.join(', ')}, with a leading '-' for descending (e.g. -temp)`;

export function isNodeSort(text: unknown): text is NodeSort {
  return typeof text === 'string' && (NODE_SORTS as readonly string[]).includes(text);
}

/** `-temp` -> { key: 'temp', descending: true }; throws NODE_SORT_HELP for anything else. */
export function parseNodeSort(text: string): { key: NodeSortKey; descending: boolean } {
  if (!isNodeSort(text)) throw new Error(`'${text}' is not a sort order: ${NODE_SORT_HELP}`);
  const descending = text.startsWith('-');
  return { key: (descending ? text.slice(1) : text) as NodeSortKey, descending };
}

export function formatNodeSort(key: NodeSortKey, descending: boolean): NodeSort {
  return descending ? `-${key}` : key;
}

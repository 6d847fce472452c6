/** A member the pool could remove, as the scale-down choice sees it. */
export interface RemovalCandidate {
  instanceId: string;
  nodeId: string;
  provisionedAt: number;
  pricePerHour: number | null;
  /** Since when the node has had no allocation and no run in flight; null: busy. */
  idleSince: number | null;
  /** Whether its node is READY (a node that is not is left to health and operators). */
  ready: boolean;
}

/**
 * Which members to remove: only idle ones (idle at least `idleForMs`), oldest first and, among
 * the same age, the most expensive first (an unknown price sorts last); at most `count`.
 */
export function chooseRemovals(candidates: readonly RemovalCandidate[], count: number, now: number, idleForMs: number): RemovalCandidate[] {
  if (count <= 0) return [];
  return candidates
    .filter((c) => c.ready && c.idleSince !== null && now - c.idleSince >= idleForMs)
    .sort((a, b) => a.provisionedAt - b.provisionedAt || (b.pricePerHour ?? -1) - (a.pricePerHour ?? -1))
    .slice(0, count);
}

import { maxUnavailableNodes, type MaxUnavailable } from '@gpufleet/protocol';

/** A pool member's node as the budget sees it. */
export interface MemberAvailability {
  nodeId: string;
  ready: boolean;
  /** The old node of a replacement that has not reached its drain: cordoned, waiting for its successor. */
  awaitingReplacement: boolean;
}

/**
 * Whether draining `nodeId` keeps the pool within `max_unavailable`: the members not READY
 * (old nodes still waiting for their replacement left out, so two replacements never block each
 * other) plus this one must not exceed what the setting allows for the pool's size.
 */
export function mayTakeDown(
  nodeId: string,
  members: readonly MemberAvailability[],
  maxUnavailable: MaxUnavailable,
): { ok: boolean; unavailable: number; allowed: number } {
  const allowed = maxUnavailableNodes(maxUnavailable, members.length);
  const unavailable = members.filter((m) => m.nodeId !== nodeId && !m.ready && !m.awaitingReplacement).length;
  return { ok: unavailable + 1 <= allowed, unavailable, allowed };
}

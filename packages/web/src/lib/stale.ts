import type { NodeView } from '@gpufleet/protocol';

/**
 * Whether a node's readings are history rather than live: it is not connected (OFFLINE, or
 * removed). Such readings are shown dimmed with when the node was last seen, never as if current.
 * A PENDING node that never connected has no readings to speak of.
 */
export function isStale(n: Pick<NodeView, 'connected' | 'status'>): boolean {
  return !n.connected && n.status !== 'PENDING';
}

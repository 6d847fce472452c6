import { createHash } from 'node:crypto';

/**
 * The replica URLs in this node's order of preference: highest random weight (rendezvous)
 * hashing of node id and URL, the same on every replica and on the agent. The agent dials its
 * first choice from the start (so agents joined with one token spread over the replicas instead
 * of all landing on its first URL), the welcome frame lists them in this order, and when a replica
 * dies each of its agents moves to its own next choice, so they spread evenly over the survivors.
 * Called once per welcome or start, so a SHA-256 per URL costs nothing that matters.
 */
export function replicaOrderFor(nodeId: string, urls: string[]): string[] {
  if (urls.length < 2) return urls;
  const weight = (url: string) => createHash('sha256').update(`${nodeId}\u0000${url}`).digest().readUInt32BE(0);
  return [...urls].sort((a, b) => weight(b) - weight(a) || (a < b ? -1 : 1));
}

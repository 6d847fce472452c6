import { FleetError } from '@gpufleet/protocol';
import type { JoinTokenRecord, NodeRecord } from '../store/store.js';

/**
 * The join token of a promote (issue 12) names the node it was minted for in its description:
 * single-use, `promote <node id> ...`. Enrollment lets the key of a node managed over SSH in
 * only with such a token for that very node; any other token (a fleet's reusable one, say) is
 * refused, so nobody can turn an SSH node into an agent node behind the operator's back.
 */
const PREFIX = 'promote ';

export function promoteTokenDescription(nodeId: string, hostname: string): string {
  return `${PREFIX}${nodeId} (${hostname}) to an agent host`;
}

export function isPromoteTokenFor(token: Pick<JoinTokenRecord, 'description' | 'reusable'>, nodeId: string): boolean {
  return !token.reusable && token.description.startsWith(`${PREFIX}${nodeId} `);
}

/**
 * For an existing node enrolling again: an SSH node needs its promote token (refused otherwise,
 * permission_denied, saying how to promote); returns whether this is a promote, whose token the
 * caller must consume (a re-join of an agent node uses none).
 */
export function checkRejoin(existing: Pick<NodeRecord, 'id' | 'hostname' | 'mode'>, token: Pick<JoinTokenRecord, 'id' | 'description' | 'reusable'>): boolean {
  if (existing.mode !== 'ssh') return false;
  if (isPromoteTokenFor(token, existing.id)) return true;
  throw new FleetError(
    'permission_denied',
    `node ${existing.hostname} is managed over SSH: its key joins only with the token of its promote (gpufleet nodes promote ${existing.hostname}), not with join token ${token.id}`,
    { details: { reason: 'ssh_node', nodeId: existing.id } },
  );
}

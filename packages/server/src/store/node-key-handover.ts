import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import { checkId } from './store-checks.js';

/**
 * The one write promote needs beyond the SSH hosts store (issue 12): once the agent holds the
 * node key, the server's sealed copy (purpose 'node-key') is deleted; the login and the jump
 * host's login stay.
 */
export interface NodeKeyHandoverStore {
  /** Deletes the node's sealed node key; false when there was none. */
  deleteSealedNodeKey(nodeId: string): Promise<boolean>;
}

export async function deleteSealedNodeKey(db: Kysely<Database>, nodeId: string): Promise<boolean> {
  const result = await db.deleteFrom('ssh_credentials').where('node_id', '=', checkId('nodeId', nodeId)).where('purpose', '=', 'node-key').executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

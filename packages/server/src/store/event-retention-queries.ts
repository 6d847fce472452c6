import { FleetError } from '@gpufleet/protocol';
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import { checkInt } from './store-checks.js';

/**
 * The SQL of agent event retention (events/event-retention.ts drives it), kept out of
 * kysely-store.ts like health-queries.ts. Deletes go in bounded chunks so a large backlog never
 * holds SQLite's single writer lock for long.
 */

function positive(field: string, value: unknown, max: number): number {
  const n = checkInt(field, value);
  if (n < 1 || n > max) throw new FleetError('invalid_argument', `store: ${field} must be from 1 to ${max}, got ${n}`);
  return n;
}

const affected = (r: { numAffectedRows?: bigint }) => Number(r.numAffectedRows ?? 0n);

/**
 * Deletes up to `limit` agent events received (server clock: an agent cannot date its events
 * into the future to keep them) before `receivedBefore`, oldest first; returns how many.
 */
export async function pruneAgentEventsBefore(db: Kysely<Database>, receivedBefore: number, limit: number): Promise<number> {
  const before = checkInt('receivedBefore', receivedBefore);
  const n = positive('limit', limit, 100_000);
  const r =
    await sql`delete from agent_events where (node_id, seq) in (select node_id, seq from agent_events where received_at < ${before} order by received_at limit ${n})`.execute(
      db,
    );
  return affected(r);
}

/** Nodes that hold more than `maxPerNode` events, with how many they hold, most first. */
export async function nodesOverEventCap(db: Kysely<Database>, maxPerNode: number): Promise<Array<{ nodeId: string; events: number }>> {
  const cap = positive('maxPerNode', maxPerNode, 1_000_000_000);
  const rows = await db
    .selectFrom('agent_events')
    .select(['node_id', sql<number | string>`count(*)`.as('n')])
    .groupBy('node_id')
    .having(sql`count(*)`, '>', cap)
    .orderBy(sql`count(*)`, 'desc')
    .execute();
  return rows.map((r) => ({ nodeId: r.node_id, events: Number(r.n) }));
}

/**
 * Deletes up to `limit` of one node's oldest events (by its outbox sequence) so that at most
 * `keep` remain; returns how many were deleted.
 */
export async function trimNodeEvents(db: Kysely<Database>, nodeId: string, keep: number, limit: number): Promise<number> {
  if (typeof nodeId !== 'string' || nodeId.length === 0 || nodeId.length > 512)
    throw new FleetError('invalid_argument', 'store: nodeId must be non-empty text');
  const k = positive('keep', keep, 1_000_000_000);
  const n = positive('limit', limit, 100_000);
  // The newest event past the ones kept: it and everything older go.
  const cut = await db.selectFrom('agent_events').select('seq').where('node_id', '=', nodeId).orderBy('seq', 'desc').limit(1).offset(k).executeTakeFirst();
  if (!cut) return 0;
  const r =
    await sql`delete from agent_events where node_id = ${nodeId} and seq in (select seq from agent_events where node_id = ${nodeId} and seq <= ${Number(cut.seq)} order by seq limit ${n})`.execute(
      db,
    );
  return affected(r);
}

import { FleetError } from '@gpufleet/protocol';
import type { Kysely } from 'kysely';
import { agentEventToRow, rowToAgentEvent } from './row-mappers.js';
import type { Database } from './schema.js';
import { BATCH_ROWS, checkId, checkIdList, checkInt, checkLimit, checkText, checkTextOrNull } from './store-checks.js';
import type { AgentEventRecord, ListAgentEventsQuery } from './store.js';

/**
 * The SQL of stored agent events (writes and reads; retention is event-retention-queries.ts),
 * kept out of kysely-store.ts like health-queries.ts.
 */

/** Stores a batch, skipping (node, seq) pairs already stored; returns how many were new. */
export async function insertAgentEvents(db: Kysely<Database>, events: ReadonlyArray<AgentEventRecord>): Promise<number> {
  if (!Array.isArray(events)) throw new FleetError('invalid_argument', 'store: insertAgentEvents wants an array');
  // Check the whole batch before writing any of it: a bad item refuses the batch, never half of it.
  const rows = events.map(agentEventToRow);
  if (rows.length === 0) return 0;
  return db.transaction().execute(async (trx) => {
    let inserted = 0;
    for (let i = 0; i < rows.length; i += BATCH_ROWS) {
      const r = await trx
        .insertInto('agent_events')
        .values(rows.slice(i, i + BATCH_ROWS))
        .onConflict((oc) => oc.columns(['node_id', 'seq']).doNothing())
        .executeTakeFirst();
      inserted += Number(r.numInsertedOrUpdatedRows ?? 0n);
    }
    return inserted;
  });
}

/** Newest first by `ts` (ties: higher seq first, then node id); `since` is inclusive on `ts`. */
export async function listAgentEvents(db: Kysely<Database>, query: ListAgentEventsQuery): Promise<AgentEventRecord[]> {
  const q = query ?? {};
  let select = db.selectFrom('agent_events').selectAll();
  if (q.nodeId !== undefined) select = select.where('node_id', '=', checkId('nodeId', q.nodeId));
  if (q.nodeIds !== undefined) select = select.where('node_id', 'in', checkIdList('nodeIds', q.nodeIds));
  if (q.gpu !== undefined) {
    const uuid = checkTextOrNull('gpu.uuid', q.gpu?.uuid ?? null);
    const pci = checkTextOrNull('gpu.pciBusId', q.gpu?.pciBusId ?? null);
    if (uuid === null && pci === null) throw new FleetError('invalid_argument', 'store: gpu filter needs a uuid or a pciBusId');
    select = select.where((eb) => eb.or([...(uuid === null ? [] : [eb('gpu_uuid', '=', uuid)]), ...(pci === null ? [] : [eb('pci_bus_id', '=', pci)])]));
  }
  if (q.kind !== undefined) select = select.where('kind', '=', checkText('kind', q.kind));
  if (q.excludeKinds !== undefined && q.excludeKinds.length > 0) select = select.where('kind', 'not in', checkIdList('excludeKinds', q.excludeKinds));
  if (q.since !== undefined) select = select.where('ts', '>=', checkInt('since', q.since));
  const rows = await select.orderBy('ts', 'desc').orderBy('seq', 'desc').orderBy('node_id').limit(checkLimit(q.limit)).execute();
  return rows.map(rowToAgentEvent);
}

import { FleetError } from '@gpufleet/protocol';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';
import { checkArray, checkBool, checkId, checkObject } from './store-checks.js';
import { allocationPatchToRow, allocationToRow, claimsOf, FINAL_ALLOC_STATUSES, rowToAllocation, rowToGpuClaim } from './workload-rows.js';
import type { AllocationPatch, AllocationRecord, GpuClaimRecord, ListAllocationsQuery, PlanCommit, PlanConflict } from './workload-records.js';
import type { GpuClaimsTable } from './workload-schema.js';
import { retryOnDeadlock } from './retry-deadlock.js';

/**
 * The SQL of allocations and GPU claims (0007_workloads): the plan applier's commit, allocation
 * changes, and the claim table. Portable between SQLite and PostgreSQL.
 */

/** Rows per statement: allocations have 22 columns, so 300 rows stay under both engines' limits. */
const BATCH_ROWS = 300;

/** Thrown inside the transaction to roll a plan back; caught outside to report its conflicts. */
class PlanRefused extends Error {
  constructor(readonly conflicts: PlanConflict[]) {
    super('plan refused: GPU already claimed');
  }
}

const claimKey = (nodeId: string, gpuIndex: number) => `${nodeId}\u0000${gpuIndex}`;
const byClaimKey = (a: GpuClaimsTable, b: GpuClaimsTable) => (a.node_id < b.node_id ? -1 : a.node_id > b.node_id ? 1 : a.gpu_index - b.gpu_index);

/**
 * Applies a plan in one transaction: claims of `release` go, `updates` are written, `inserts`
 * are stored with one claim per assigned GPU. A claim that meets another (held by an allocation
 * outside this plan, or by another insert of it) refuses the whole plan: the transaction rolls
 * back and the conflicts come back with their current holders.
 *
 * The database decides, not a read beforehand: claims are inserted with `on conflict do nothing`
 * and counted. On PostgreSQL a claim racing an uncommitted one waits for that transaction and
 * then sees its outcome; on SQLite writers take turns. Claims (and updates) go in key order, so
 * two plans never wait on each other in a cycle. An update of an unknown allocation is
 * not_found, an insert whose id is taken already_exists; both write nothing. Releasing an
 * allocation that holds no claims (ended already, or unknown) is no error: releasing is idempotent.
 */
export async function commitPlan(db: Kysely<Database>, plan: PlanCommit): Promise<{ ok: true } | { ok: false; conflicts: PlanConflict[] }> {
  checkObject('plan', plan);
  // Everything is checked before the transaction opens: a bad item writes nothing.
  const inserts = checkArray('plan.inserts', plan.inserts).map((a, i) => allocationToRow(a as AllocationRecord, `inserts[${i}]`));
  const updates = checkArray('plan.updates', plan.updates)
    .map((u, i) => {
      checkObject(`updates[${i}]`, u);
      const { id, patch } = u as PlanCommit['updates'][number];
      return { id: checkId(`updates[${i}].id`, id), row: allocationPatchToRow(patch, `updates[${i}].patch`) };
    })
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const release = [...new Set(checkArray('plan.release', plan.release).map((id, i) => checkId(`release[${i}]`, id)))].sort();
  const ids = new Set<string>();
  for (const row of inserts) {
    if (ids.has(row.id)) throw new FleetError('invalid_argument', `store: the plan inserts allocation ${row.id} twice`);
    ids.add(row.id);
  }
  const claims = inserts.flatMap(claimsOf).sort(byClaimKey);
  if (inserts.length + updates.length + release.length === 0) return { ok: true };

  try {
    await retryOnDeadlock(() =>
      db.transaction().execute(async (trx) => {
        // Writes only until the claims are in: SQLite takes its write lock on the first statement.
        for (let i = 0; i < release.length; i += BATCH_ROWS) {
          await trx
            .deleteFrom('gpu_claims')
            .where('alloc_id', 'in', release.slice(i, i + BATCH_ROWS))
            .execute();
        }
        for (const u of updates) await updateOne(trx, u.id, u.row);
        for (let i = 0; i < inserts.length; i += BATCH_ROWS) {
          const chunk = inserts.slice(i, i + BATCH_ROWS);
          const stored = await trx
            .insertInto('allocations')
            .values(chunk)
            .onConflict((oc) => oc.column('id').doNothing())
            .returning('id')
            .execute();
          if (stored.length !== chunk.length) {
            const inserted = new Set(stored.map((r) => r.id));
            // Taken before this plan: the rows this plan did insert are rolled back with it.
            throw new FleetError('already_exists', `allocation ${chunk.find((a) => !inserted.has(a.id))?.id} already exists`);
          }
        }
        let claimed = 0;
        for (let i = 0; i < claims.length; i += BATCH_ROWS) {
          const r = await trx
            .insertInto('gpu_claims')
            .values(claims.slice(i, i + BATCH_ROWS))
            .onConflict((oc) => oc.columns(['node_id', 'gpu_index']).doNothing())
            .executeTakeFirst();
          claimed += Number(r.numInsertedOrUpdatedRows ?? 0n);
        }
        if (claimed !== claims.length) throw new PlanRefused(await conflictsOf(trx, claims));
      }),
    );
  } catch (err) {
    if (err instanceof PlanRefused) return { ok: false, conflicts: err.conflicts };
    throw err;
  }
  return { ok: true };
}

/** The claims of a plan that another allocation holds, with that holder, as the database has them now. */
async function conflictsOf(trx: Transaction<Database>, claims: GpuClaimsTable[]): Promise<PlanConflict[]> {
  const nodes = [...new Set(claims.map((c) => c.node_id))];
  const holders = new Map<string, string>();
  for (let i = 0; i < nodes.length; i += BATCH_ROWS) {
    const rows = await trx
      .selectFrom('gpu_claims')
      .select(['node_id', 'gpu_index', 'alloc_id'])
      .where('node_id', 'in', nodes.slice(i, i + BATCH_ROWS))
      .execute();
    for (const r of rows) holders.set(claimKey(r.node_id, Number(r.gpu_index)), r.alloc_id);
  }
  const conflicts: PlanConflict[] = [];
  for (const c of claims) {
    const heldBy = holders.get(claimKey(c.node_id, c.gpu_index));
    if (heldBy !== undefined && heldBy !== c.alloc_id) conflicts.push({ nodeId: c.node_id, gpuIndex: c.gpu_index, heldBy });
  }
  return conflicts;
}

async function updateOne(db: Kysely<Database> | Transaction<Database>, id: string, row: ReturnType<typeof allocationPatchToRow>): Promise<void> {
  // An empty patch still tells an unknown allocation apart: setting id to itself changes nothing.
  const set = Object.keys(row).length === 0 ? { id } : row;
  const r = await db.updateTable('allocations').set(set).where('id', '=', id).executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) throw new FleetError('not_found', `allocation ${id} not found`);
}

/** not_found for an unknown allocation. Claims stay as they are: endAllocation releases them. */
export async function updateAllocation(db: Kysely<Database>, id: string, patch: AllocationPatch): Promise<void> {
  await updateOne(db, checkId('id', id), allocationPatchToRow(patch));
}

/** Sets the patch and releases the allocation's claims in one transaction; not_found for an unknown allocation. */
export async function endAllocation(db: Kysely<Database>, id: string, patch: AllocationPatch): Promise<void> {
  checkId('id', id);
  const row = allocationPatchToRow(patch);
  await db.transaction().execute(async (trx) => {
    await updateOne(trx, id, row);
    await trx.deleteFrom('gpu_claims').where('alloc_id', '=', id).execute();
  });
}

export async function getAllocation(db: Kysely<Database>, id: string): Promise<AllocationRecord | undefined> {
  const row = await db.selectFrom('allocations').selectAll().where('id', '=', checkId('id', id)).executeTakeFirst();
  return row === undefined ? undefined : rowToAllocation(row);
}

/** Oldest first (by createdAt, then id). */
export async function listAllocations(db: Kysely<Database>, query: ListAllocationsQuery): Promise<AllocationRecord[]> {
  const q = query ?? {};
  checkObject('query', q);
  let select = db.selectFrom('allocations').selectAll();
  if (q.job !== undefined) select = select.where('job', '=', checkId('job', q.job));
  if (q.nodeId !== undefined) select = select.where('node_id', '=', checkId('nodeId', q.nodeId));
  if (q.active !== undefined) {
    const final = [...FINAL_ALLOC_STATUSES];
    select =
      checkBool('active', q.active) === 1
        ? select.where((eb) => eb.or([eb('desired', '=', 'run'), eb('status', 'not in', final)]))
        : select.where((eb) => eb.and([eb('desired', '!=', 'run'), eb('status', 'in', final)]));
  }
  const rows = await select.orderBy('created_at').orderBy('id').execute();
  return rows.map(rowToAllocation);
}

/** Every claim, by node then GPU index. */
export async function listGpuClaims(db: Kysely<Database>): Promise<GpuClaimRecord[]> {
  const rows = await db.selectFrom('gpu_claims').selectAll().orderBy('node_id').orderBy('gpu_index').execute();
  return rows.map(rowToGpuClaim);
}

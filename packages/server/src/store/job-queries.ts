import { FleetError, JOB_KINDS } from '@gpufleet/protocol';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import { checkId, checkInt, checkIntOrNull, checkObject, checkOneOf } from './store-checks.js';
import { deploymentToRow, JOB_STATES, JOB_VERSION_STATUSES, jobVersionInputToRow, rowToDeployment, rowToJob, rowToJobVersion } from './workload-rows.js';
import type { DeploymentRecord, JobRecord, JobVersionRecord } from './workload-records.js';

/**
 * The SQL of jobs, their versions and their deployments (0007_workloads), kept out of kysely-store.ts like
 * run-queries.ts. Portable between SQLite and PostgreSQL.
 */

/**
 * One transaction whose first statement is the job row's upsert: it numbers the version
 * (last_version + 1) and takes the row's write lock at once, so concurrent submissions of one job
 * wait for each other (PostgreSQL's row lock; SQLite's database lock) and never share a number.
 * A new version makes the job active again: submitting means wanting it to run.
 */
export async function addJobVersion(
  db: Kysely<Database>,
  input: Omit<JobVersionRecord, 'version' | 'status'> & { kind: JobRecord['kind']; at: number },
): Promise<number> {
  const row = jobVersionInputToRow(input);
  const kind = checkOneOf('kind', input.kind, JOB_KINDS);
  const at = checkInt('at', input.at);
  return db.transaction().execute(async (trx) => {
    const job = await trx
      .insertInto('jobs')
      .values({
        name: row.job,
        kind,
        state: 'active',
        current_version: 1,
        last_version: 1,
        submitted_by: row.submitted_by,
        created_at: at,
        updated_at: at,
        stopped_at: null,
      })
      .onConflict((oc) =>
        oc.column('name').doUpdateSet((eb) => ({
          last_version: eb(eb.ref('jobs.last_version'), '+', 1),
          current_version: eb(eb.ref('jobs.last_version'), '+', 1),
          kind: eb.ref('excluded.kind'),
          state: 'active',
          submitted_by: eb.ref('excluded.submitted_by'),
          updated_at: eb.ref('excluded.updated_at'),
          stopped_at: null,
        })),
      )
      .returning('last_version')
      .executeTakeFirstOrThrow();
    const version = Number(job.last_version);
    await trx.updateTable('job_versions').set({ status: 'superseded' }).where('job', '=', row.job).where('status', '=', 'current').execute();
    await trx
      .insertInto('job_versions')
      .values({ ...row, version, status: 'current' })
      .execute();
    return version;
  });
}

export async function getJob(db: Kysely<Database>, name: string): Promise<JobRecord | undefined> {
  const row = await db.selectFrom('jobs').selectAll().where('name', '=', checkId('name', name)).executeTakeFirst();
  return row === undefined ? undefined : rowToJob(row);
}

/** Every job, by name. */
export async function listJobs(db: Kysely<Database>): Promise<JobRecord[]> {
  const rows = await db.selectFrom('jobs').selectAll().orderBy('name').execute();
  return rows.map(rowToJob);
}

export async function listJobVersions(db: Kysely<Database>, job: string): Promise<JobVersionRecord[]> {
  const rows = await db.selectFrom('job_versions').selectAll().where('job', '=', checkId('job', job)).orderBy('version', 'desc').execute();
  return rows.map(rowToJobVersion);
}

export async function getJobVersion(db: Kysely<Database>, job: string, version: number): Promise<JobVersionRecord | undefined> {
  const row = await db
    .selectFrom('job_versions')
    .selectAll()
    .where('job', '=', checkId('job', job))
    .where('version', '=', checkInt('version', version))
    .executeTakeFirst();
  return row === undefined ? undefined : rowToJobVersion(row);
}

type JobPatch = Partial<Pick<JobRecord, 'state' | 'currentVersion' | 'stoppedAt' | 'updatedAt'>>;
const JOB_PATCH_KEYS = ['state', 'currentVersion', 'stoppedAt', 'updatedAt'];

/**
 * not_found for an unknown job, or a currentVersion the job does not have. Moving currentVersion
 * (a revert) makes that version 'current' and every other one not 'reverted' 'superseded'.
 */
export async function updateJob(db: Kysely<Database>, name: string, patch: JobPatch): Promise<void> {
  checkId('name', name);
  checkObject('patch', patch);
  const set: { state?: string; current_version?: number; stopped_at?: number | null; updated_at?: number } = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (!JOB_PATCH_KEYS.includes(key)) throw new FleetError('invalid_argument', `store: job field '${key}' cannot be patched`);
  }
  if (patch.state !== undefined) set.state = checkOneOf('state', patch.state, JOB_STATES);
  if (patch.currentVersion !== undefined) set.current_version = checkInt('currentVersion', patch.currentVersion);
  if (patch.stoppedAt !== undefined) set.stopped_at = checkIntOrNull('stoppedAt', patch.stoppedAt);
  if (patch.updatedAt !== undefined) set.updated_at = checkInt('updatedAt', patch.updatedAt);
  await db.transaction().execute(async (trx) => {
    // The job row first: its write lock orders this change after a concurrent addJobVersion.
    const r =
      Object.keys(set).length === 0
        ? await trx.updateTable('jobs').set({ name }).where('name', '=', name).executeTakeFirst()
        : await trx.updateTable('jobs').set(set).where('name', '=', name).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw new FleetError('not_found', `job ${name} not found`);
    const version = set.current_version;
    if (version === undefined) return;
    const v = await trx.updateTable('job_versions').set({ status: 'current' }).where('job', '=', name).where('version', '=', version).executeTakeFirst();
    if (Number(v.numUpdatedRows) === 0) throw new FleetError('not_found', `job ${name} has no version ${version}`);
    await trx
      .updateTable('job_versions')
      .set({ status: 'superseded' })
      .where('job', '=', name)
      .where('version', '!=', version)
      .where('status', '!=', 'reverted')
      .execute();
  });
}

export async function setJobVersionStatus(db: Kysely<Database>, job: string, version: number, status: JobVersionRecord['status']): Promise<void> {
  const r = await db
    .updateTable('job_versions')
    .set({ status: checkOneOf('status', status, JOB_VERSION_STATUSES) })
    .where('job', '=', checkId('job', job))
    .where('version', '=', checkInt('version', version))
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) throw new FleetError('not_found', `job ${job} has no version ${version}`);
}

/**
 * Forgets a job and everything of it in one transaction: output and claims of its allocations,
 * the allocations, deployments, versions and the job row. An unknown job is no error (like
 * deleteNode): purging twice leaves the same nothing.
 */
export async function purgeJob(db: Kysely<Database>, name: string): Promise<void> {
  checkId('name', name);
  await db.transaction().execute(async (trx) => {
    const allocs = trx.selectFrom('allocations').select('id').where('job', '=', name);
    // The job row first (a write, so SQLite takes its lock before any read).
    await trx.deleteFrom('jobs').where('name', '=', name).execute();
    await trx.deleteFrom('alloc_output').where('alloc_id', 'in', allocs).execute();
    await trx.deleteFrom('gpu_claims').where('alloc_id', 'in', allocs).execute();
    await trx.deleteFrom('allocations').where('job', '=', name).execute();
    await trx.deleteFrom('deployments').where('job', '=', name).execute();
    await trx.deleteFrom('job_versions').where('job', '=', name).execute();
  });
}

/** Inserts the deployment or replaces it whole (by id). */
export async function upsertDeployment(db: Kysely<Database>, d: DeploymentRecord): Promise<void> {
  const row = deploymentToRow(d);
  const { id: _id, ...rest } = row;
  await db
    .insertInto('deployments')
    .values(row)
    .onConflict((oc) => oc.column('id').doUpdateSet(rest))
    .execute();
}

/** The job's newest deployment (by startedAt, then id). */
export async function latestDeployment(db: Kysely<Database>, job: string): Promise<DeploymentRecord | undefined> {
  const row = await db
    .selectFrom('deployments')
    .selectAll()
    .where('job', '=', checkId('job', job))
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row === undefined ? undefined : rowToDeployment(row);
}

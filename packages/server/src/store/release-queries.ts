import { FleetError, TEAM_ROLE } from '@gpufleet/protocol';
import type { Kysely, Selectable } from 'kysely';
import type { Database } from './schema.js';
import type { ReleaseBlobsTable, ReleaseMetadataTable, ReleaseTargetsTable } from './release-schema.js';
import type { ReleaseBlobRecord, ReleaseCommit, ReleaseMetadataRecord, ReleaseRole, ReleaseTargetRecord } from './release-records.js';
import { BATCH_ROWS, checkArray, checkId, checkIdList, checkInt, checkObject, checkOneOf, checkText, dbInt } from './store-checks.js';

/** The SQL of the TUF repository (0012_releases), kept out of kysely-store.ts; every input is checked first. */

const ROLES: readonly ReleaseRole[] = ['root', 'targets', 'snapshot', 'timestamp'];

function checkRole(value: unknown): ReleaseRole {
  if (typeof value === 'string' && TEAM_ROLE.test(value)) return value as ReleaseRole;
  return checkOneOf('role', value, ROLES);
}
const SHA256 = /^[0-9a-f]{64}$/;

function checkSha256(field: string, value: unknown): string {
  if (typeof value !== 'string' || !SHA256.test(value)) throw new FleetError('invalid_argument', `store: ${field} must be a SHA-256 in lowercase hex`);
  return value;
}

function checkVersion(field: string, value: unknown): number {
  const v = checkInt(field, value);
  if (v < 1 || v > 2_147_483_647) throw new FleetError('invalid_argument', `store: ${field} must be from 1 to 2147483647, got ${v}`);
  return v;
}

function checkLength(field: string, value: unknown): number {
  const n = checkInt(field, value);
  if (n < 0) throw new FleetError('invalid_argument', `store: ${field} must not be negative, got ${n}`);
  return n;
}

// Metadata is JSON text of any size (a root with many keys is well over checkId's 1024 characters).
function checkJsonText(value: unknown): string {
  const text = checkText('json', value);
  if (text.length === 0) throw new FleetError('invalid_argument', 'store: json must not be empty');
  return text;
}

function metadataToRow(r: ReleaseMetadataRecord): ReleaseMetadataTable {
  checkObject('metadata', r);
  return {
    role: checkRole(r.role),
    version: checkVersion('version', r.version),
    json: checkJsonText(r.json),
    created_at: checkInt('createdAt', r.createdAt),
  };
}

function blobToRow(b: ReleaseBlobRecord): ReleaseBlobsTable {
  checkObject('blob', b);
  if (!(b.bytes instanceof Uint8Array)) throw new FleetError('invalid_argument', 'store: blob bytes must be a Uint8Array');
  const length = checkLength('length', b.length);
  if (length !== b.bytes.length) throw new FleetError('invalid_argument', `store: blob length ${length} is not its ${b.bytes.length} bytes`);
  return { sha256: checkSha256('sha256', b.sha256), length, bytes: b.bytes, created_at: checkInt('createdAt', b.createdAt) };
}

function targetToRow(t: ReleaseTargetRecord): ReleaseTargetsTable {
  checkObject('target', t);
  return {
    path: checkId('path', t.path),
    sha256: checkSha256('sha256', t.sha256),
    length: checkLength('length', t.length),
    kind: checkId('kind', t.kind),
    name: checkId('name', t.name),
    version: checkId('version', t.version),
    targets_version: checkVersion('targetsVersion', t.targetsVersion),
    published_at: checkInt('publishedAt', t.publishedAt),
  };
}

function rowToMetadata(r: Selectable<ReleaseMetadataTable>): ReleaseMetadataRecord {
  return { role: r.role as ReleaseRole, version: dbInt(r.version), json: r.json, createdAt: dbInt(r.created_at) };
}

function rowToTarget(r: Selectable<ReleaseTargetsTable>): ReleaseTargetRecord {
  return {
    path: r.path,
    sha256: r.sha256,
    length: dbInt(r.length),
    kind: r.kind,
    name: r.name,
    version: r.version,
    targetsVersion: dbInt(r.targets_version),
    publishedAt: dbInt(r.published_at),
  };
}

export async function commitRelease(db: Kysely<Database>, commit: ReleaseCommit): Promise<void> {
  checkObject('commit', commit);
  const metadata = checkArray('metadata', commit.metadata).map((m) => metadataToRow(m as ReleaseMetadataRecord));
  const blobs = checkArray('blobs', commit.blobs ?? []).map((b) => blobToRow(b as ReleaseBlobRecord));
  const targets = checkArray('targets', commit.targets ?? []).map((t) => targetToRow(t as ReleaseTargetRecord));
  await db.transaction().execute(async (trx) => {
    for (const row of metadata) {
      const r = await trx
        .insertInto('release_metadata')
        .values(row)
        .onConflict((oc) => oc.columns(['role', 'version']).doNothing())
        .executeTakeFirst();
      // Throwing rolls the whole change back: a publish that lost a race writes nothing.
      if (Number(r.numInsertedOrUpdatedRows ?? 0n) === 0)
        throw new FleetError('already_exists', `${row.role} metadata version ${row.version} is stored already`);
    }
    // One blob per statement: they can be large, and a batch would hold them all in one query.
    for (const row of blobs) {
      await trx
        .insertInto('release_blobs')
        .values(row)
        .onConflict((oc) => oc.column('sha256').doNothing())
        .execute();
    }
    for (let i = 0; i < targets.length; i += BATCH_ROWS) {
      await trx
        .insertInto('release_targets')
        .values(targets.slice(i, i + BATCH_ROWS))
        .onConflict((oc) => oc.column('path').doNothing())
        .execute();
    }
  });
}

export async function getReleaseMetadata(db: Kysely<Database>, role: ReleaseRole, version?: number): Promise<ReleaseMetadataRecord | undefined> {
  let q = db.selectFrom('release_metadata').selectAll().where('role', '=', checkRole(role));
  q = version === undefined ? q.orderBy('version', 'desc').limit(1) : q.where('version', '=', checkVersion('version', version));
  const row = await q.executeTakeFirst();
  return row ? rowToMetadata(row) : undefined;
}

export async function getReleaseBlob(db: Kysely<Database>, sha256: string): Promise<ReleaseBlobRecord | undefined> {
  const row = await db.selectFrom('release_blobs').selectAll().where('sha256', '=', checkSha256('sha256', sha256)).executeTakeFirst();
  if (!row) return undefined;
  const bytes = row.bytes instanceof Uint8Array ? row.bytes : new Uint8Array(row.bytes as ArrayBuffer);
  return { sha256: row.sha256, length: dbInt(row.length), bytes, createdAt: dbInt(row.created_at) };
}

export async function releaseBlobLengths(db: Kysely<Database>, sha256s: ReadonlyArray<string>): Promise<Array<{ sha256: string; length: number }>> {
  const list = checkIdList('sha256s', sha256s);
  for (const [i, s] of list.entries()) if (s !== '') checkSha256(`sha256s[${i}]`, s);
  const rows = await db.selectFrom('release_blobs').select(['sha256', 'length']).where('sha256', 'in', list).orderBy('sha256').execute();
  return rows.map((r) => ({ sha256: r.sha256, length: dbInt(r.length) }));
}

export async function listReleaseTargets(db: Kysely<Database>): Promise<ReleaseTargetRecord[]> {
  const rows = await db.selectFrom('release_targets').selectAll().orderBy('published_at', 'desc').orderBy('path', 'desc').execute();
  return rows.map(rowToTarget);
}

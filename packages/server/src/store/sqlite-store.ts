import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { FleetError } from '@gpufleet/protocol';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteAdapter, SqliteDialect, type DialectAdapter, type MigrationLockOptions } from 'kysely';
import { KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';
import type { Store } from './store.js';
import { createPrivateFile, makePrivate } from './private-data-dir.js';

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** Database file; its folder is created (0700) when missing. `':memory:'` gives a private in-memory database. */
  path: string;
  /** How long a write waits for another process's lock before failing, in ms. Default 5000. */
  busyTimeoutMs?: number;
}

/**
 * Kysely's SQLite adapter runs migrations outside a transaction and without a lock, assuming one
 * connection in one process. Two processes starting on a fresh file (a server and a CLI) then race
 * and one fails on a half-made schema; a crash mid-migration leaves one behind. SQLite does have
 * transactional DDL, so: one transaction, whose first statement is a write to the lock row. That
 * takes SQLite's write lock at once (waiting up to busy_timeout), so the second process waits and
 * then sees the migrations already applied.
 */
class MigrationSafeSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }

  // biome-ignore lint/suspicious/noExplicitAny: Kysely's own migration API is typed over Kysely<any>
  override async acquireMigrationLock(db: Kysely<any>, opt: MigrationLockOptions): Promise<void> {
    await db.updateTable(opt.lockTable).set({ is_locked: 1 }).where('id', '=', opt.lockRowId).execute();
  }

  // biome-ignore lint/suspicious/noExplicitAny: Kysely's own migration API is typed over Kysely<any>
  override async releaseMigrationLock(db: Kysely<any>, opt: MigrationLockOptions): Promise<void> {
    await db.updateTable(opt.lockTable).set({ is_locked: 0 }).where('id', '=', opt.lockRowId).execute();
  }
}

class StoreSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new MigrationSafeSqliteAdapter();
  }
}

/**
 * Opens the embedded store: one better-sqlite3 connection in WAL mode (readers do not block the
 * writer), with foreign keys on. Call `migrate()` before use. Several processes may share the
 * file; within one process open it once (better-sqlite3 waits for a lock synchronously, so a
 * second connection in the same process would stall the thread holding the first one's lock).
 */
export async function openSqliteStore(opts: SqliteStoreOptions): Promise<Store> {
  if (typeof opts?.path !== 'string' || opts.path.length === 0) {
    throw new FleetError('invalid_argument', 'sqlite store: path must be a non-empty string');
  }
  const busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
  if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new FleetError('invalid_argument', 'sqlite store: busyTimeoutMs must be a non-negative integer');
  }
  const inMemory = opts.path === ':memory:';
  let sqlite: BetterSqlite3.Database;
  try {
    if (!inMemory) {
      mkdirSync(dirname(opts.path), { recursive: true, mode: 0o700 });
      // SQLite creates a new database 0644 and gives its -wal and -shm files the database's mode:
      // an empty 0600 file first keeps all three private. One an older version made 0644 is tightened.
      createPrivateFile(opts.path);
      makePrivate([opts.path, `${opts.path}-wal`, `${opts.path}-shm`]);
    }
    sqlite = new BetterSqlite3(opts.path);
  } catch (err) {
    throw new FleetError('unavailable', `sqlite store: cannot open ${opts.path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    // busy_timeout first: switching a fresh file to WAL needs a lock that a sibling process
    // starting at the same moment may hold, and without a timeout that fails at once.
    sqlite.pragma(`busy_timeout = ${busyTimeoutMs}`);
    // An in-memory database has no WAL; asking for it is harmless but pointless.
    if (!inMemory) sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('foreign_keys = ON');
    // NORMAL is durable across application crashes in WAL mode and much faster than FULL.
    sqlite.pragma('synchronous = NORMAL');
  } catch (err) {
    sqlite.close();
    // A file that is not a database fails here, on the first statement, rather than at open.
    throw new FleetError('unavailable', `sqlite store: cannot use ${opts.path}: ${(err as Error).message}`, { cause: err });
  }
  const db = new Kysely<Database>({ dialect: new StoreSqliteDialect({ database: sqlite }) });
  return new KyselyStore(db, { kind: 'sqlite' });
}

import { join } from 'node:path';
import { FleetError } from '@gpufleet/protocol';
import { openPostgresStore } from './postgres-store.js';
import { openSqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';

/** File name of the embedded database inside the data dir. */
export const SQLITE_FILE_NAME = 'gpufleet.db';

/** The part of the server config that picks the store. */
export interface StoreConfig {
  /** A `postgres://` or `postgresql://` URL, or null for the embedded SQLite database. */
  database: string | null;
  /** Folder of the embedded database (`<dataDir>/gpufleet.db`). */
  dataDir: string;
}

/**
 * Opens the configured store: PostgreSQL for a postgres URL, else SQLite in the data dir.
 * Any other non-null `database` is refused rather than silently falling back to SQLite.
 * The caller runs `migrate()`.
 */
export async function openStore(config: StoreConfig): Promise<Store> {
  const { database, dataDir } = config;
  if (database !== null && database !== undefined) {
    if (typeof database === 'string' && /^postgres(ql)?:\/\//i.test(database)) return openPostgresStore({ url: database });
    throw new FleetError('invalid_argument', 'database must be a postgres:// or postgresql:// URL, or unset for the embedded SQLite store');
  }
  if (typeof dataDir !== 'string' || dataDir.length === 0) {
    throw new FleetError('invalid_argument', 'dataDir must be a non-empty path');
  }
  return openSqliteStore({ path: join(dataDir, SQLITE_FILE_NAME) });
}

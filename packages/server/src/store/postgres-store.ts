import { FleetError } from '@gpufleet/protocol';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';
import type { Store } from './store.js';

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  /** `postgres://user:pass@host:port/db`; never echoed in errors since it may hold a password. */
  url: string;
  /**
   * Schema to keep every table in (lowercase letters, digits, `_`): created when missing and put
   * first on the search_path of every pooled connection. Lets tests and tenants isolate themselves.
   */
  schema?: string;
  /** Pool size. Default 10. */
  maxConnections?: number;
  /** How long to wait for a connection, in ms. Default 10,000. */
  connectTimeoutMs?: number;
  /** Errors of idle pooled connections (server restart, network cut); default: ignored. */
  onPoolError?: (err: Error) => void;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const INT8_OID = 20;

/**
 * int8 (bigint, and count(*)) comes back from pg as a string by default. Times and sequence numbers
 * fit a JavaScript number, so this pool parses int8 to numbers; set per pool, not globally, so other
 * pg users in the process keep their own behavior.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as unknown as pg.CustomTypesConfig;

/**
 * Opens a store on PostgreSQL through a pg Pool. Checks the connection (and creates `schema`)
 * before returning, so a wrong URL fails here with `unavailable`, not on the first request.
 * Call `migrate()` before use.
 */
export async function openPostgresStore(opts: PostgresStoreOptions): Promise<Store> {
  if (typeof opts?.url !== 'string' || !/^postgres(ql)?:\/\//i.test(opts.url)) {
    throw new FleetError('invalid_argument', 'postgres store: url must start with postgres:// or postgresql://');
  }
  if (opts.schema !== undefined && (typeof opts.schema !== 'string' || !SCHEMA_NAME.test(opts.schema))) {
    throw new FleetError('invalid_argument', 'postgres store: schema must be 1-63 lowercase letters, digits or _, not starting with a digit');
  }
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.maxConnections ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    types,
    // A startup option rather than a SET after connect: it holds from the first statement on.
    ...(opts.schema === undefined ? {} : { options: `-c search_path=${opts.schema}` }),
  });
  // Without a listener an idle client's error would be an unhandled 'error' event and end the process.
  pool.on('error', (err) => opts.onPoolError?.(err));
  const endPool = async () => {
    if (!pool.ended) await pool.end();
  };

  let schema: string;
  try {
    if (opts.schema !== undefined) await pool.query(`create schema if not exists "${opts.schema}"`);
    const r = await pool.query<{ schema: string | null }>('select current_schema() as schema');
    if (r.rows[0]?.schema == null) throw new Error('no current schema: the search_path names no existing schema');
    schema = r.rows[0].schema;
  } catch (err) {
    await endPool().catch(() => undefined);
    throw new FleetError('unavailable', `postgres store: cannot connect or prepare schema: ${(err as Error).message}`, {
      cause: err,
    });
  }

  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  // Kysely ends the pool only if it used it; endPool covers a store closed before any query.
  return new KyselyStore(db, { kind: 'postgres', migrationTableSchema: schema, afterClose: endPool });
}

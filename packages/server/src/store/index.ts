/** The control plane's durable store: one interface, SQLite and PostgreSQL behind one Kysely implementation. */
export type * from './store.js';
export { openStore, SQLITE_FILE_NAME, type StoreConfig } from './open-store.js';
export { openSqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
export { openPostgresStore, type PostgresStoreOptions } from './postgres-store.js';
export { KyselyStore, type KyselyStoreOptions } from './kysely-store.js';
export { storeMigrations, migrateToLatest, type StoreDialect } from './migrations.js';

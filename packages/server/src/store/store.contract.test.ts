import { describeStoreContract } from './__tests__/store-contract.js';
import { scratchPostgresStore, scratchSqliteStore } from './__tests__/scratch-stores.js';

// The database file one folder down: opening it makes the folder (what a fresh data dir needs).
describeStoreContract('sqlite', () => scratchSqliteStore('nested/gpufleet.db'));

// PostgreSQL of this machine and of CI, never skipped: a broken setup fails the run.
describeStoreContract('postgres', scratchPostgresStore);

/**
 * Child process for the multi-process migration test: opens the SQLite store at argv[2], waits
 * until the epoch-ms time argv[3] (so sibling processes start migrating at the same moment),
 * migrates, and prints "migrated".
 */
import { openSqliteStore } from '../sqlite-store.js';

const [path, goAt] = process.argv.slice(2);
const store = await openSqliteStore({ path });
try {
  while (Date.now() < Number(goAt)) {
    // spin: a timer would add milliseconds of jitter between the siblings
  }
  await store.migrate();
  console.log('migrated');
} finally {
  await store.close();
}

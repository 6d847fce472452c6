/** PostgreSQL's SQLSTATEs for a transaction it aborted so that others could go on. */
const RETRYABLE = new Set(['40P01', '40001']); // deadlock_detected, serialization_failure

/** How many times a transaction PostgreSQL chose as a deadlock victim is run again. */
const ATTEMPTS = 4;

/**
 * Runs a whole transaction again when PostgreSQL aborted it as a deadlock victim (or a
 * serialization failure). Ordering rows within a statement is not enough to rule deadlocks out
 * when a transaction deletes rows and later inserts rows with the keys another transaction is
 * deleting (a plan releasing some GPUs while another claims them): PostgreSQL then aborts one of
 * the two, rolled back whole, and running it again is what it expects the client to do. SQLite
 * never raises these (one writer at a time).
 */
export async function retryOnDeadlock<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if (attempt >= ATTEMPTS || typeof code !== 'string' || !RETRYABLE.has(code)) throw err;
      // A short random pause so the two do not meet again in the same order at once.
      await new Promise((r) => setTimeout(r, 5 + Math.floor(Math.random() * 20 * attempt)));
    }
  }
}

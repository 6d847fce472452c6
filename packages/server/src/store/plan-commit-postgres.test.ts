import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gpusOf, inserting, NODE_A, placedAllocation, sampleVersionInput } from './__tests__/workload-fixtures.js';
import { openPostgresStore } from './postgres-store.js';
import type { Store } from './store.js';

/**
 * The plan applier's claims on PostgreSQL, where transactions really overlap: a plan meeting a
 * claim another transaction has not committed yet waits for it and then takes its outcome (the
 * claim is there: conflict; it was rolled back: the plan wins), and two server replicas (two
 * pools on one schema) racing for a GPU never both get it. The shared contract suite runs the
 * same races inside one store.
 */

const PG_URL = process.env.GPUFLEET_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `gf_test_${randomBytes(6).toString('hex')}`;
let a: Store;
let b: Store;
let raw: pg.Client;

beforeAll(async () => {
  a = await openPostgresStore({ url: PG_URL, schema });
  b = await openPostgresStore({ url: PG_URL, schema });
  await Promise.all([a.migrate(), b.migrate()]);
  raw = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
  await raw.connect();
});

afterEach(async () => {
  await raw.query('rollback').catch(() => undefined);
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await raw?.query(`drop schema if exists "${schema}" cascade`);
  await raw?.end();
});

/** Resolves once some backend waits on a lock the raw connection holds: the plan is blocked on it. */
async function blockedOnRaw(): Promise<void> {
  const rawPid = (await raw.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
  const watcher = new pg.Client({ connectionString: PG_URL });
  await watcher.connect();
  try {
    for (;;) {
      const r = await watcher.query('select pid from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [rawPid]);
      if (r.rowCount! > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    await watcher.end();
  }
}

/** The raw connection claims a GPU in a transaction it leaves open. */
async function holdClaim(gpuIndex: number, allocId: string): Promise<void> {
  await raw.query('begin');
  await raw.query('insert into gpu_claims (node_id, gpu_index, gpu_uuid, alloc_id) values ($1, $2, null, $3)', [NODE_A, gpuIndex, allocId]);
}

describe('commitPlan on PostgreSQL with overlapping transactions', () => {
  it('waits for an uncommitted claim of its GPU and, once that commits, refuses with its holder', async () => {
    await holdClaim(0, 'alloc-raw-holder');
    const plan = a.commitPlan(inserting(placedAllocation('alloc-waits-001', { gpus: gpusOf(0, 2) })));
    await blockedOnRaw();
    await raw.query('commit');
    expect(await plan).toEqual({ ok: false, conflicts: [{ nodeId: NODE_A, gpuIndex: 0, heldBy: 'alloc-raw-holder' }] });
    expect(await a.getAllocation('alloc-waits-001')).toBeUndefined();
    expect((await a.listGpuClaims()).filter((c) => c.gpuIndex === 1)).toEqual([]);
  });

  it('waits for an uncommitted claim of its GPU and, once that rolls back, wins', async () => {
    await holdClaim(5, 'alloc-raw-gone');
    const plan = a.commitPlan(inserting(placedAllocation('alloc-wins-0001', { gpus: gpusOf(5) })));
    await blockedOnRaw();
    await raw.query('rollback');
    expect(await plan).toEqual({ ok: true });
    expect((await b.listGpuClaims()).find((c) => c.gpuIndex === 5)?.allocId).toBe('alloc-wins-0001');
  });

  it('two replicas racing for the same GPUs: one winner per round, the loser writes nothing', async () => {
    for (let round = 0; round < 20; round++) {
      const gpu = 100 + round;
      const mine = (store: string) =>
        inserting(
          placedAllocation(`alloc-r${round}-${store}-a`, { nodeId: `did:key:z6MkSide${store}${round}`, gpus: gpusOf(0) }),
          placedAllocation(`alloc-r${round}-${store}-b`, { gpus: gpusOf(gpu) }),
        );
      const [ra, rb] = await Promise.all([a.commitPlan(mine('a')), b.commitPlan(mine('b'))]);
      expect([ra.ok, rb.ok].filter(Boolean)).toHaveLength(1);
      const winner = ra.ok ? 'a' : 'b';
      const loser = ra.ok ? 'b' : 'a';
      expect(ra.ok ? rb : ra).toEqual({ ok: false, conflicts: [{ nodeId: NODE_A, gpuIndex: gpu, heldBy: `alloc-r${round}-${winner}-b` }] });
      expect(await a.getAllocation(`alloc-r${round}-${loser}-a`)).toBeUndefined();
      expect(await a.getAllocation(`alloc-r${round}-${winner}-a`)).toBeDefined();
    }
  });

  it('two replicas submitting one job never hand out a version number twice', async () => {
    const versions = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).addJobVersion(sampleVersionInput('racing', i + 1))));
    expect([...versions].sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const current = (await a.listJobVersions('racing')).filter((v) => v.status === 'current');
    expect(current.map((v) => v.version)).toEqual([12]);
  });
});

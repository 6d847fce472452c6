import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_PG_URL } from './__tests__/scratch-stores.js';
import { retryOnDeadlock } from './retry-deadlock.js';

describe('retryOnDeadlock', () => {
  const table = `gf_deadlock_${randomBytes(5).toString('hex')}`;
  let admin: pg.Client;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString: TEST_PG_URL });
    await admin.connect();
    await admin.query(`create table ${table} (id int primary key, v int not null)`);
    await admin.query(`insert into ${table} values (1, 0), (2, 0)`);
  });
  afterAll(async () => {
    await admin.query(`drop table if exists ${table}`);
    await admin.end();
  });

  /** Locks `first`, waits for the other side to lock its row, then wants `second`: two of these deadlock. */
  async function crossing(client: pg.Client, first: number, second: number, bothLocked: Promise<void>, locked: () => void): Promise<void> {
    await client.query('begin');
    try {
      await client.query(`update ${table} set v = v + 1 where id = $1`, [first]);
      locked();
      await bothLocked;
      await client.query(`update ${table} set v = v + 1 where id = $1`, [second]);
      await client.query('commit');
    } catch (err) {
      await client.query('rollback');
      throw err;
    }
  }

  it('runs a transaction PostgreSQL aborted as a deadlock victim again, and both end committed', async () => {
    const a = new pg.Client({ connectionString: TEST_PG_URL });
    const b = new pg.Client({ connectionString: TEST_PG_URL });
    await Promise.all([a.connect(), b.connect()]);
    try {
      let count = 0;
      let release!: () => void;
      const bothLocked = new Promise<void>((r) => (release = r));
      const locked = () => (++count === 2 ? release() : undefined);
      let attemptsA = 0;
      let attemptsB = 0;
      // Only the first attempts cross; a retry finds the other side done or waits for it.
      await Promise.all([
        retryOnDeadlock(() => crossing(a, 1, 2, attemptsA++ === 0 ? bothLocked : Promise.resolve(), locked)),
        retryOnDeadlock(() => crossing(b, 2, 1, attemptsB++ === 0 ? bothLocked : Promise.resolve(), locked)),
      ]);
      expect(attemptsA + attemptsB).toBe(3); // exactly one victim, run once more
      const { rows } = await admin.query(`select v from ${table} order by id`);
      expect(rows.map((r) => r.v)).toEqual([2, 2]);
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });

  it('passes other errors through at once, and gives up on a deadlock after four attempts', async () => {
    let calls = 0;
    await expect(
      retryOnDeadlock(async () => {
        calls++;
        throw Object.assign(new Error('unique_violation'), { code: '23505' });
      }),
    ).rejects.toThrow('unique_violation');
    expect(calls).toBe(1);
    calls = 0;
    await expect(
      retryOnDeadlock(async () => {
        calls++;
        throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
      }),
    ).rejects.toThrow('deadlock detected');
    expect(calls).toBe(4);
  });
});

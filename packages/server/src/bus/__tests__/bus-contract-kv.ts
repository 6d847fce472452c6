import { beforeEach, describe, expect, it } from 'vitest';
import { type Bus, DEFAULT_MAX_PAYLOAD_BYTES, type KvChange } from '../bus.js';
import { type BusFixture, type ContractState, eventually, expectFleetError, sleep } from './bus-contract-kit.js';

/** The Bus contract, key-value with TTL: create, compare-and-set, expiry, watch. */
export function describeKeyValue(state: ContractState): void {
  describe('key-value', () => {
    let fixture: BusFixture;
    let a: Bus;
    let b: Bus;
    beforeEach(() => {
      ({ fixture, a, b } = state);
    });

    it('creates once, reads, and updates only from the current revision', async () => {
      const kv = await a.kv('owners', { ttlMs: 60_000 });
      const other = await b.kv('owners', { ttlMs: 60_000 });
      expect(await kv.get('node-1')).toBeNull();
      const r1 = await kv.create('node-1', { replica: 'a' });
      await expectFleetError(() => other.create('node-1', { replica: 'b' }), 'already_exists');
      const got = await other.get('node-1');
      expect(got?.json()).toEqual({ replica: 'a' });
      expect(got?.revision).toBe(r1);
      expect(got?.key).toBe('node-1');

      const r2 = await other.update('node-1', { replica: 'b' }, r1);
      expect(r2).toBeGreaterThan(r1);
      const stale = await expectFleetError(() => kv.update('node-1', { replica: 'a' }, r1), 'conflict');
      expect(stale.message).toContain('node-1');
      await expectFleetError(() => kv.update('never-written', { replica: 'a' }, r1), 'conflict');
      expect((await kv.get('node-1'))?.json()).toEqual({ replica: 'b' });
      expect((await kv.get('node-1'))?.revision).toBe(r2);

      await kv.create('node-2', new Uint8Array([7]));
      expect([...(await kv.get('node-2'))!.value]).toEqual([7]);
      expect((await other.keys()).sort()).toEqual(['node-1', 'node-2']);
    });

    it('deletes only at the current revision when one is given; a deleted key reads null and can be created again', async () => {
      const kv = await a.kv('leases');
      const r1 = await kv.create('lease.x', { holder: 'a' });
      const r2 = await kv.update('lease.x', { holder: 'a', renewed: true }, r1);
      await expectFleetError(() => kv.delete('lease.x', r1), 'conflict');
      expect(await kv.get('lease.x')).not.toBeNull();
      await kv.delete('lease.x', r2);
      expect(await kv.get('lease.x')).toBeNull();
      expect(await kv.keys()).toEqual([]);
      const r3 = await kv.create('lease.x', { holder: 'b' });
      expect(r3).toBeGreaterThan(r2);
      await kv.delete('lease.x');
      expect(await kv.get('lease.x')).toBeNull();
      await kv.delete('never-written'); // nothing to delete is fine
    });

    it('expires entries ttlMs after their last write; an update renews', async () => {
      const ttl = fixture.ttlMs;
      const kv = await a.kv('sessions', { ttlMs: ttl });
      const renewed = await kv.create('renewed', { replica: 'a' });
      const lapsing = await kv.create('lapsing', { replica: 'a' });
      await fixture.elapse(ttl / 2);
      const r2 = await kv.update('renewed', { replica: 'a' }, renewed);
      await fixture.elapse(ttl / 2 + 50);
      // 'lapsing' is past its TTL, 'renewed' half-way through its new one.
      await eventually(async () => (await kv.get('lapsing')) === null, ttl * 2);
      expect((await kv.get('renewed'))?.revision).toBe(r2);
      expect(await kv.keys()).toEqual(['renewed']);
      // A lapsed key is free: create works, and its old revision no longer does.
      await expectFleetError(() => kv.update('lapsing', { replica: 'a' }, lapsing), 'conflict');
      await kv.create('lapsing', { replica: 'b' });

      await fixture.elapse(ttl / 2 + 50);
      await eventually(async () => (await kv.get('renewed')) === null, ttl * 2);
      expect(await kv.get('lapsing')).not.toBeNull();
    });

    it('opening a bucket again with another TTL applies the new one', async () => {
      const ttl = fixture.ttlMs;
      const long = await a.kv('retuned', { ttlMs: 3_600_000 });
      await long.create('k', { v: 1 });
      const short = await b.kv('retuned', { ttlMs: ttl });
      await fixture.elapse(ttl + 50);
      await eventually(async () => (await short.get('k')) === null, ttl * 2);
    });

    it('watch reports writes from other replicas in order until stopped', async () => {
      const kvA = await a.kv('watched');
      const kvB = await b.kv('watched');
      const early = await kvB.create('before', { v: 0 }); // before the watch: not reported
      const changes: KvChange[] = [];
      const stop = await kvA.watch((c) => changes.push(c));
      const r1 = await kvB.create('x', { v: 1 });
      const r2 = await kvB.update('x', { v: 2 }, r1);
      await kvB.delete('x');
      await eventually(() => changes.length === 3);
      expect(changes.map((c) => [c.key, c.op, c.value && JSON.parse(new TextDecoder().decode(c.value))])).toEqual([
        ['x', 'put', { v: 1 }],
        ['x', 'put', { v: 2 }],
        ['x', 'delete', null],
      ]);
      expect(changes[0]!.revision).toBe(r1);
      expect(changes[1]!.revision).toBe(r2);
      expect(changes[2]!.revision).toBeGreaterThan(r2);
      expect(early).toBeLessThan(r1);

      await stop();
      const later: KvChange[] = [];
      const stopLater = await kvA.watch((c) => later.push(c));
      await kvB.create('y', { v: 3 });
      await eventually(() => later.length === 1);
      await sleep(50);
      expect(changes).toHaveLength(3);
      await stopLater();
    });

    it('entries() reads every live entry at once: last values, revisions, no deleted keys; an empty bucket has none', async () => {
      const kv = await a.kv('bulk');
      const other = await b.kv('bulk');
      expect(await other.entries()).toEqual([]);
      const revisions = new Map<string, number>();
      for (let i = 0; i < 300; i++) revisions.set(`k-${i}`, await kv.create(`k-${i}`, { i }));
      revisions.set('k-7', await kv.update('k-7', { i: 7, again: true }, revisions.get('k-7')!));
      await kv.delete('k-8');
      revisions.delete('k-8');
      const entries = await other.entries();
      expect(entries).toHaveLength(299);
      expect(new Map(entries.map((e) => [e.key, e.revision]))).toEqual(revisions);
      expect(entries.find((e) => e.key === 'k-7')!.json()).toEqual({ i: 7, again: true });
      expect(entries.find((e) => e.key === 'k-42')!.json()).toEqual({ i: 42 });
      // Everything deleted: none again.
      for (const key of revisions.keys()) await kv.delete(key);
      expect(await other.entries()).toEqual([]);
    });

    it('refuses bad keys, buckets, revisions, TTLs and values', async () => {
      const kv = await a.kv('checked');
      for (const key of ['', 'a b', 'did:key:z6Mk', 'a..b', '.a', 'a.', 'a.*', 'a.>', 'ü', 'x'.repeat(257)]) {
        await expectFleetError(() => kv.create(key, {}), 'invalid_argument');
        await expectFleetError(() => kv.get(key), 'invalid_argument');
      }
      for (const bucket of ['', 'a.b', 'a b', 'a=b', 'x'.repeat(65)]) {
        await expectFleetError(() => a.kv(bucket), 'invalid_argument');
      }
      for (const revision of [0, -1, 1.5, Number.NaN]) {
        await expectFleetError(() => kv.update('k', {}, revision), 'invalid_argument');
        await expectFleetError(() => kv.delete('k', revision), 'invalid_argument');
      }
      await expectFleetError(() => a.kv('checked', { ttlMs: 10 }), 'invalid_argument');
      await expectFleetError(() => a.kv('checked', { ttl: 1000 } as never), 'invalid_argument');
      await expectFleetError(() => kv.create('k', { n: 10n }), 'invalid_argument');
      await expectFleetError(() => kv.create('k', new Uint8Array(DEFAULT_MAX_PAYLOAD_BYTES + 1)), 'payload_too_large');
      expect(await kv.keys()).toEqual([]);
    });
  });
}

import { describe, expect, it } from 'vitest';
import type { ApiTokenRecord, JoinTokenRecord } from '../store.js';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { sampleApiToken, sampleJoinToken, T0 } from './store-fixtures.js';

/** Contract cases for join tokens and API tokens. */
export function tokenContract(store: StoreRef): void {
  describe('join tokens', () => {
    it('round-trips every field, set and null', async () => {
      const full = sampleJoinToken('jt_full', { reusable: true, needsApproval: false, revokedAt: T0 + 9, uses: 7 });
      const bare = sampleJoinToken('jt_bare', { labels: {}, expiresAt: null, description: '' });
      await store().insertJoinToken(full);
      await store().insertJoinToken(bare);
      expect(await store().getJoinToken('jt_full')).toEqual(full);
      expect(await store().getJoinToken('jt_bare')).toEqual(bare);
      expect(await store().getJoinToken('jt_none')).toBeUndefined();
    });

    it('refuses a duplicate id with already_exists', async () => {
      await store().insertJoinToken(sampleJoinToken('jt_1'));
      await expectFleetError(store().insertJoinToken(sampleJoinToken('jt_1', { description: 'other' })), 'already_exists');
      expect((await store().getJoinToken('jt_1'))?.description).toBe(sampleJoinToken('jt_1').description);
    });

    it('lists oldest first, ties by id', async () => {
      await store().insertJoinToken(sampleJoinToken('jt_c', { createdAt: T0 + 1 }));
      await store().insertJoinToken(sampleJoinToken('jt_b', { createdAt: T0 + 1 }));
      await store().insertJoinToken(sampleJoinToken('jt_a', { createdAt: T0 + 2 }));
      await store().insertJoinToken(sampleJoinToken('jt_z', { createdAt: T0 }));
      expect((await store().listJoinTokens()).map((t) => t.id)).toEqual(['jt_z', 'jt_b', 'jt_c', 'jt_a']);
    });

    it('a single-use token is consumed once', async () => {
      await store().insertJoinToken(sampleJoinToken('jt_once'));
      expect(await store().consumeJoinToken('jt_once')).toBe(true);
      expect(await store().consumeJoinToken('jt_once')).toBe(false);
      expect((await store().getJoinToken('jt_once'))?.uses).toBe(1);
    });

    it('of 10 concurrent consumes of a single-use token exactly one wins', async () => {
      await store().insertJoinToken(sampleJoinToken('jt_race'));
      const results = await Promise.all(Array.from({ length: 10 }, () => store().consumeJoinToken('jt_race')));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await store().getJoinToken('jt_race'))?.uses).toBe(1);
    });

    it('a reusable token is granted every time and counts each use, also concurrently', async () => {
      await store().insertJoinToken(sampleJoinToken('jt_many', { reusable: true }));
      for (let i = 0; i < 3; i++) expect(await store().consumeJoinToken('jt_many')).toBe(true);
      const results = await Promise.all(Array.from({ length: 10 }, () => store().consumeJoinToken('jt_many')));
      expect(results.every(Boolean)).toBe(true);
      expect((await store().getJoinToken('jt_many'))?.uses).toBe(13);
    });

    it('a single-use token stored as already used is refused', async () => {
      await store().insertJoinToken(sampleJoinToken('jt_used', { uses: 1 }));
      expect(await store().consumeJoinToken('jt_used')).toBe(false);
    });

    it('revoke marks the token once and stops further consumes, reusable or not', async () => {
      await store().insertJoinToken(sampleJoinToken('jt_r', { reusable: true }));
      expect(await store().consumeJoinToken('jt_r')).toBe(true);
      expect(await store().revokeJoinToken('jt_r', T0 + 50)).toBe(true);
      expect(await store().revokeJoinToken('jt_r', T0 + 60)).toBe(false);
      expect(await store().consumeJoinToken('jt_r')).toBe(false);
      const got = await store().getJoinToken('jt_r');
      expect(got?.revokedAt).toBe(T0 + 50);
      expect(got?.uses).toBe(1);
    });

    it('revoke and consume of an absent token are false', async () => {
      expect(await store().revokeJoinToken('jt_ghost', T0)).toBe(false);
      expect(await store().consumeJoinToken('jt_ghost')).toBe(false);
    });

    it('refuses garbage', async () => {
      const bad: unknown[] = [
        { ...sampleJoinToken('jt_x'), reusable: 'true' },
        { ...sampleJoinToken('jt_x'), uses: -0.5 },
        { ...sampleJoinToken('jt_x'), labels: ['a'] },
        { ...sampleJoinToken('jt_x'), expiresAt: undefined },
        42,
      ];
      for (const t of bad) await expectFleetError(store().insertJoinToken(t as JoinTokenRecord), 'invalid_argument');
      expect(await store().listJoinTokens()).toEqual([]);
      await expectFleetError(store().revokeJoinToken('jt_x', Number.NaN), 'invalid_argument');
      await expectFleetError(store().consumeJoinToken(null as unknown as string), 'invalid_argument');
    });
  });

  describe('api tokens', () => {
    it('round-trips every field, set and null', async () => {
      const full = sampleApiToken('at_full', { role: 'admin', lastUsedAt: T0 + 1, revokedAt: T0 + 2 });
      const bare = sampleApiToken('at_bare', { role: 'viewer' });
      await store().insertApiToken(full);
      await store().insertApiToken(bare);
      expect(await store().getApiToken('at_full')).toEqual(full);
      expect(await store().getApiToken('at_bare')).toEqual(bare);
      expect(await store().getApiToken('at_none')).toBeUndefined();
    });

    it('refuses a duplicate id with already_exists', async () => {
      await store().insertApiToken(sampleApiToken('at_1'));
      await expectFleetError(store().insertApiToken(sampleApiToken('at_1', { role: 'admin' })), 'already_exists');
      expect((await store().getApiToken('at_1'))?.role).toBe('operator');
    });

    it('lists oldest first, ties by id', async () => {
      await store().insertApiToken(sampleApiToken('at_b', { createdAt: T0 + 5 }));
      await store().insertApiToken(sampleApiToken('at_a', { createdAt: T0 + 5 }));
      await store().insertApiToken(sampleApiToken('at_c', { createdAt: T0 }));
      expect((await store().listApiTokens()).map((t) => t.id)).toEqual(['at_c', 'at_a', 'at_b']);
    });

    it('revoke is true once, false again and for an absent token', async () => {
      await store().insertApiToken(sampleApiToken('at_r'));
      expect(await store().revokeApiToken('at_r', T0 + 3)).toBe(true);
      expect(await store().revokeApiToken('at_r', T0 + 4)).toBe(false);
      expect(await store().revokeApiToken('at_ghost', T0)).toBe(false);
      expect((await store().getApiToken('at_r'))?.revokedAt).toBe(T0 + 3);
    });

    it('touch sets lastUsedAt of that token only; touching an absent token is harmless', async () => {
      await store().insertApiToken(sampleApiToken('at_t'));
      await store().insertApiToken(sampleApiToken('at_u'));
      await store().touchApiToken('at_t', T0 + 77);
      await store().touchApiToken('at_t', T0 + 78);
      await store().touchApiToken('at_ghost', T0 + 79);
      expect((await store().getApiToken('at_t'))?.lastUsedAt).toBe(T0 + 78);
      expect((await store().getApiToken('at_u'))?.lastUsedAt).toBeNull();
      expect(await store().getApiToken('at_ghost')).toBeUndefined();
    });

    it('refuses garbage', async () => {
      const bad: unknown[] = [
        { ...sampleApiToken('at_x'), role: 'root' },
        { ...sampleApiToken('at_x'), createdAt: null },
        { ...sampleApiToken('at_x'), secretHash: 5 },
      ];
      for (const t of bad) await expectFleetError(store().insertApiToken(t as ApiTokenRecord), 'invalid_argument');
      expect(await store().listApiTokens()).toEqual([]);
      await expectFleetError(store().touchApiToken('at_x', 1.25), 'invalid_argument');
    });
  });
}

import { describe, expect, it } from 'vitest';
import type { AgentEventRecord, AuditInput } from '../store.js';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { sampleAudit, sampleEvent, T0 } from './store-fixtures.js';

const N1 = 'did:key:z6MkNode1';
const N2 = 'did:key:z6MkNode2';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Contract cases for agent events, the audit log and settings. */
export function historyContract(store: StoreRef): void {
  describe('agent events', () => {
    it('round-trips every field, set and null', async () => {
      const full = sampleEvent(N1, 1);
      const bare = sampleEvent(N1, 2, { gpuUuid: null, pciBusId: null, data: {}, message: '' });
      expect(await store().insertAgentEvents([full, bare])).toBe(2);
      const got = await store().listAgentEvents({ nodeId: N1 });
      expect(got).toEqual([bare, full]);
    });

    it('de-duplicates by (node, seq): a replayed batch adds nothing, an overlapping one only the new items', async () => {
      const batch = range(1, 5).map((s) => sampleEvent(N1, s));
      expect(await store().insertAgentEvents(batch)).toBe(5);
      expect(await store().insertAgentEvents(batch)).toBe(0);
      // Same seq with different content is still the same item: the first stored copy stays.
      const replay = range(4, 8).map((s) => sampleEvent(N1, s, { message: 'replayed' }));
      expect(await store().insertAgentEvents(replay)).toBe(3);
      const got = await store().listAgentEvents({ nodeId: N1 });
      expect(got.map((e) => e.seq)).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
      expect(got.find((e) => e.seq === 4)?.message).toBe(sampleEvent(N1, 4).message);
      expect(got.find((e) => e.seq === 6)?.message).toBe('replayed');
    });

    it('counts a (node, seq) repeated inside one batch once; the same seq on two nodes is two items', async () => {
      const batch = [sampleEvent(N1, 1), sampleEvent(N1, 1, { message: 'dup' }), sampleEvent(N2, 1)];
      expect(await store().insertAgentEvents(batch)).toBe(2);
      expect(await store().listAgentEvents({})).toHaveLength(2);
    });

    it('an empty batch inserts nothing', async () => {
      expect(await store().insertAgentEvents([])).toBe(0);
      expect(await store().listAgentEvents({})).toEqual([]);
    });

    it('stores a batch larger than one statement', async () => {
      const batch = range(1, 1234).map((s) => sampleEvent(N2, s));
      expect(await store().insertAgentEvents(batch)).toBe(1234);
      expect(await store().insertAgentEvents(batch.slice(600))).toBe(0);
      expect(await store().listAgentEvents({ limit: 5000 })).toHaveLength(1234);
    });

    it('lists newest first with node, kind and inclusive since filters and a limit', async () => {
      await store().insertAgentEvents([
        sampleEvent(N1, 1, { ts: T0 + 10 }),
        sampleEvent(N1, 2, { ts: T0 + 30, kind: 'gpu-missing' }),
        sampleEvent(N2, 1, { ts: T0 + 20 }),
        sampleEvent(N2, 2, { ts: T0 + 40, kind: 'gpu-missing' }),
        sampleEvent(N2, 3, { ts: T0 + 40 }), // same ts as seq 2: higher seq first
      ]);
      const key = (list: AgentEventRecord[]) => list.map((e) => `${e.nodeId.slice(-1)}:${e.seq}`);
      expect(key(await store().listAgentEvents({}))).toEqual(['2:3', '2:2', '1:2', '2:1', '1:1']);
      expect(key(await store().listAgentEvents({ nodeId: N1 }))).toEqual(['1:2', '1:1']);
      expect(key(await store().listAgentEvents({ kind: 'gpu-missing' }))).toEqual(['2:2', '1:2']);
      expect(key(await store().listAgentEvents({ since: T0 + 30 }))).toEqual(['2:3', '2:2', '1:2']);
      expect(key(await store().listAgentEvents({ nodeId: N2, since: T0 + 20, kind: 'kernel-log' }))).toEqual(['2:3', '2:1']);
      expect(key(await store().listAgentEvents({ limit: 2 }))).toEqual(['2:3', '2:2']);
      expect(key(await store().listAgentEvents({ excludeKinds: ['gpu-missing'] }))).toEqual(['2:3', '2:1', '1:1']);
      expect(key(await store().listAgentEvents({ excludeKinds: ['gpu-missing', 'kernel-log'] }))).toEqual([]);
      expect(key(await store().listAgentEvents({ excludeKinds: [] }))).toHaveLength(5);
      expect(await store().listAgentEvents({ nodeId: 'did:key:z6MkNobody' })).toEqual([]);
    });

    it('returns at most 100 by default', async () => {
      await store().insertAgentEvents(range(1, 130).map((s) => sampleEvent(N1, s)));
      const got = await store().listAgentEvents({});
      expect(got).toHaveLength(100);
      expect(got[0].seq).toBe(130);
    });

    it('refuses a batch holding garbage and stores none of it', async () => {
      const bad: unknown[] = [
        { ...sampleEvent(N1, 2), seq: 2.5 },
        { ...sampleEvent(N1, 2), data: null },
        { ...sampleEvent(N1, 2), data: [1, 2] },
        { ...sampleEvent(N1, 2), nodeId: '' },
        { ...sampleEvent(N1, 2), ts: '2025-01-01' },
        { ...sampleEvent(N1, 2), gpuUuid: undefined },
        'event',
      ];
      for (const e of bad) {
        await expectFleetError(store().insertAgentEvents([sampleEvent(N1, 1), e as AgentEventRecord]), 'invalid_argument');
      }
      await expectFleetError(store().insertAgentEvents({} as never), 'invalid_argument');
      expect(await store().listAgentEvents({})).toEqual([]);
    });

    it('refuses a bad query', async () => {
      for (const limit of [0, -1, 1.5, Number.NaN]) await expectFleetError(store().listAgentEvents({ limit }), 'invalid_argument');
      await expectFleetError(store().listAgentEvents({ since: 'yesterday' as never }), 'invalid_argument');
    });
  });

  describe('audit log', () => {
    it('appends with increasing ids and round-trips every field, set and null', async () => {
      const entries: AuditInput[] = [
        sampleAudit(),
        sampleAudit({ target: null, result: 'error', details: null }),
        sampleAudit({ details: 'a plain string' }),
        sampleAudit({ details: [1, { two: [3] }] }),
      ];
      const ids: number[] = [];
      for (const e of entries) ids.push(await store().appendAudit(e));
      for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]);
      const got = await store().listAudit({});
      expect(got).toEqual(entries.map((e, i) => ({ ...e, id: ids[i] })).reverse());
    });

    it('stores undefined details as null', async () => {
      const id = await store().appendAudit(sampleAudit({ details: undefined }));
      expect(await store().listAudit({})).toEqual([{ ...sampleAudit(), details: null, id }]);
    });

    it('lists newest first with actor, action and inclusive since filters and a limit', async () => {
      const a = await store().appendAudit(sampleAudit({ at: T0 + 1, actor: 'alice', action: 'node.cordon' }));
      const b = await store().appendAudit(sampleAudit({ at: T0 + 2, actor: 'bob', action: 'token.create' }));
      const c = await store().appendAudit(sampleAudit({ at: T0 + 3, actor: 'alice', action: 'token.create' }));
      const ids = async (q: Parameters<ReturnType<StoreRef>['listAudit']>[0]) => (await store().listAudit(q)).map((e) => e.id);
      expect(await ids({})).toEqual([c, b, a]);
      expect(await ids({ actor: 'alice' })).toEqual([c, a]);
      expect(await ids({ action: 'token.create' })).toEqual([c, b]);
      expect(await ids({ since: T0 + 2 })).toEqual([c, b]);
      expect(await ids({ actor: 'alice', action: 'token.create', since: T0 })).toEqual([c]);
      expect(await ids({ limit: 1 })).toEqual([c]);
      expect(await ids({ actor: 'mallory' })).toEqual([]);
    });

    it('returns at most 100 by default', async () => {
      for (let i = 0; i < 105; i++) await store().appendAudit(sampleAudit({ at: T0 + i }));
      const got = await store().listAudit({});
      expect(got).toHaveLength(100);
      expect(got[0].at).toBe(T0 + 104);
    });

    it('refuses garbage and appends nothing', async () => {
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      const bad: unknown[] = [
        sampleAudit({ details: circular }),
        sampleAudit({ details: { n: 1n } }),
        sampleAudit({ result: 'maybe' as never }),
        sampleAudit({ at: -0.1 }),
        sampleAudit({ actor: undefined as never }),
      ];
      for (const e of bad) await expectFleetError(store().appendAudit(e as AuditInput), 'invalid_argument');
      expect(await store().listAudit({})).toEqual([]);
      await expectFleetError(store().listAudit({ limit: -5 }), 'invalid_argument');
    });
  });

  describe('settings', () => {
    it('an unset key is undefined; set then get returns the value', async () => {
      expect(await store().getSetting('server.key')).toBeUndefined();
      await store().setSetting('server.key', '{"kty":"OKP","x":"ünï"}');
      expect(await store().getSetting('server.key')).toBe('{"kty":"OKP","x":"ünï"}');
    });

    it('set overwrites (upsert) and keeps keys apart; empty strings survive', async () => {
      await store().setSetting('a', '1');
      await store().setSetting('b', '2');
      await store().setSetting('a', '3');
      await store().setSetting('c', '');
      expect(await store().getSetting('a')).toBe('3');
      expect(await store().getSetting('b')).toBe('2');
      expect(await store().getSetting('c')).toBe('');
    });

    it('refuses garbage', async () => {
      await expectFleetError(store().setSetting('', 'x'), 'invalid_argument');
      await expectFleetError(store().setSetting('k', 5 as never), 'invalid_argument');
      await expectFleetError(store().getSetting(null as never), 'invalid_argument');
      expect(await store().getSetting('k')).toBeUndefined();
    });
  });
}

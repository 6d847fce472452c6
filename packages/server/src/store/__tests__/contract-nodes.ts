import { describe, expect, it } from 'vitest';
import type { NodePatch, NodeRecord } from '../store.js';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { bareNode, sampleFacts, sampleGpu, sampleNode, T0 } from './store-fixtures.js';

const A = 'did:key:z6MkAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const B = 'did:key:z6MkBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
const C = 'did:key:z6MkCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC';

/** Contract cases for nodes. */
export function nodeContract(store: StoreRef): void {
  describe('nodes', () => {
    it('round-trips every field of a fully set node', async () => {
      const node = sampleNode(A);
      await store().insertNode(node);
      expect(await store().getNode(A)).toEqual(node);
    });

    it('round-trips nulls, false and empty collections', async () => {
      const node = bareNode(B);
      await store().insertNode(node);
      const got = await store().getNode(B);
      expect(got).toEqual(node);
      expect(got?.lastSeenAt).toBeNull();
      expect(got?.simulated).toBe(false);
    });

    it('keeps large epoch-ms and seq values exact (bigint columns come back as numbers)', async () => {
      const node = sampleNode(A, { enrolledAt: 4_102_444_800_000, lastSeenAt: 4_102_444_800_123, ackedSeq: 2 ** 40 + 3 });
      await store().insertNode(node);
      const got = await store().getNode(A);
      expect(got?.ackedSeq).toBe(2 ** 40 + 3);
      expect(typeof got?.enrolledAt).toBe('number');
      expect(got).toEqual(node);
    });

    it('getNode of an absent id is undefined', async () => {
      expect(await store().getNode(A)).toBeUndefined();
    });

    it('refuses a duplicate id with already_exists and keeps the first record', async () => {
      await store().insertNode(sampleNode(A));
      await expectFleetError(store().insertNode(bareNode(A)), 'already_exists');
      expect(await store().getNode(A)).toEqual(sampleNode(A));
      expect(await store().listNodes()).toHaveLength(1);
    });

    it('lists all nodes, oldest enrollment first, ties by id', async () => {
      await store().insertNode(bareNode(C, T0 + 10));
      await store().insertNode(bareNode(B, T0));
      await store().insertNode(bareNode(A, T0 + 10));
      expect((await store().listNodes()).map((n) => n.id)).toEqual([B, A, C]);
    });

    it('updateNode writes only the patched fields', async () => {
      await store().insertNode(sampleNode(A));
      await store().insertNode(sampleNode(B));
      const patch: NodePatch = {
        adminState: 'cordoned',
        userLabels: { team: 'infra' },
        gpus: [sampleGpu(3)],
        facts: sampleFacts('renamed'),
        lastSeenAt: null,
        ackedSeq: 99,
        simulated: false,
      };
      await store().updateNode(A, patch);
      expect(await store().getNode(A)).toEqual({ ...sampleNode(A), ...patch });
      // The other node is untouched.
      expect(await store().getNode(B)).toEqual(sampleNode(B));
    });

    it('updateNode can set nullable fields to null and back, and ignores undefined values', async () => {
      await store().insertNode(sampleNode(A));
      await store().updateNode(A, { cordonReason: null, joinTokenId: null, hostname: undefined });
      let got = (await store().getNode(A)) as NodeRecord;
      expect(got.cordonReason).toBeNull();
      expect(got.joinTokenId).toBeNull();
      expect(got.hostname).toBe(sampleNode(A).hostname);
      await store().updateNode(A, { cordonReason: 'again', toolFailures: [] });
      got = (await store().getNode(A)) as NodeRecord;
      expect(got.cordonReason).toBe('again');
      expect(got.toolFailures).toEqual([]);
    });

    it('updateNode with an empty patch changes nothing', async () => {
      await store().insertNode(sampleNode(A));
      await store().updateNode(A, {});
      expect(await store().getNode(A)).toEqual(sampleNode(A));
    });

    it('updateNode of an absent node is not_found, with or without fields', async () => {
      await expectFleetError(store().updateNode(A, { hostname: 'x' }), 'not_found');
      await expectFleetError(store().updateNode(A, {}), 'not_found');
    });

    it('updateNode refuses garbage and leaves the node as it was', async () => {
      await store().insertNode(sampleNode(A));
      const garbage: unknown[] = [
        { id: B },
        { enrolledAt: 1 },
        { colour: 'red' },
        { adminState: 'exploded' },
        { ackedSeq: 1.5 },
        { lastSeenAt: Number.NaN },
        { simulated: 'yes' },
        { userLabels: { a: 1 } },
        { gpus: 'none' },
        null,
      ];
      for (const patch of garbage) await expectFleetError(store().updateNode(A, patch as NodePatch), 'invalid_argument');
      expect(await store().getNode(A)).toEqual(sampleNode(A));
    });

    it('insertNode refuses garbage and stores nothing', async () => {
      const garbage: unknown[] = [
        { ...sampleNode(A), enrolledAt: 'yesterday' },
        { ...sampleNode(A), id: '' },
        { ...sampleNode(A), joinTokenId: undefined },
        { ...sampleNode(A), tokenLabels: null },
        { ...sampleNode(A), lastSeenAt: Infinity },
        { ...sampleNode(A), facts: { self: undefined, big: 10n } },
        'not a node',
      ];
      for (const node of garbage) await expectFleetError(store().insertNode(node as NodeRecord), 'invalid_argument');
      expect(await store().listNodes()).toEqual([]);
    });

    it('touchNodes updates lastSeenAt of many nodes in one call and only that', async () => {
      await store().insertNode(sampleNode(A));
      await store().insertNode(bareNode(B));
      await store().insertNode(sampleNode(C));
      await store().touchNodes([
        { id: A, lastSeenAt: T0 + 100 },
        { id: B, lastSeenAt: T0 + 200 },
        { id: 'did:key:z6MkGone', lastSeenAt: T0 + 300 },
        { id: A, lastSeenAt: T0 + 150 }, // repeated id: the later entry wins
      ]);
      expect(await store().getNode(A)).toEqual({ ...sampleNode(A), lastSeenAt: T0 + 150 });
      expect(await store().getNode(B)).toEqual({ ...bareNode(B), lastSeenAt: T0 + 200 });
      expect(await store().getNode(C)).toEqual(sampleNode(C));
      expect(await store().getNode('did:key:z6MkGone')).toBeUndefined();
      await store().touchNodes([]);
      expect((await store().getNode(A))?.lastSeenAt).toBe(T0 + 150);
    });

    it('saveAckedSeqs sets the outbox position of many nodes in one call and only that', async () => {
      await store().insertNode(sampleNode(A));
      await store().insertNode(bareNode(B));
      await store().saveAckedSeqs([
        { id: A, ackedSeq: 41 },
        { id: 'did:key:z6MkGone', ackedSeq: 3 },
        { id: A, ackedSeq: 42 },
      ]);
      expect(await store().getNode(A)).toEqual({ ...sampleNode(A), ackedSeq: 42 });
      expect(await store().getNode(B)).toEqual(bareNode(B));
      for (const bad of [[{ id: A, ackedSeq: 1.5 }], [{ id: A, ackedSeq: 'x' }], [{ id: 7, ackedSeq: 1 }], 'nope', [null]]) {
        await expectFleetError(store().saveAckedSeqs(bad as never), 'invalid_argument');
      }
      expect((await store().getNode(A))?.ackedSeq).toBe(42);
    });

    it('touchNodes handles a batch larger than one statement', async () => {
      const ids = Array.from({ length: 1203 }, (_, i) => `did:key:z6MkBatch${String(i).padStart(5, '0')}`);
      for (const id of ids) await store().insertNode(bareNode(id));
      await store().touchNodes(ids.map((id, i) => ({ id, lastSeenAt: T0 + i })));
      const nodes = await store().listNodes();
      expect(nodes).toHaveLength(ids.length);
      for (const n of nodes) expect(n.lastSeenAt).toBe(T0 + ids.indexOf(n.id));
    });

    it('touchNodes refuses garbage before writing anything', async () => {
      await store().insertNode(bareNode(A));
      const bad: unknown[] = [
        [
          { id: A, lastSeenAt: T0 },
          { id: B, lastSeenAt: 'now' },
        ],
        [
          { id: A, lastSeenAt: T0 },
          { id: 42, lastSeenAt: T0 },
        ],
        [{ id: A, lastSeenAt: T0 }, null],
        'everything',
      ];
      for (const seen of bad) await expectFleetError(store().touchNodes(seen as never), 'invalid_argument');
      expect((await store().getNode(A))?.lastSeenAt).toBeNull();
    });

    it('deleteNode removes the node; deleting an absent one is a no-op; the id can be reused', async () => {
      await store().insertNode(sampleNode(A));
      await store().insertNode(sampleNode(B));
      await store().deleteNode(A);
      expect(await store().getNode(A)).toBeUndefined();
      expect((await store().listNodes()).map((n) => n.id)).toEqual([B]);
      await store().deleteNode(A);
      await store().insertNode(bareNode(A));
      expect(await store().getNode(A)).toEqual(bareNode(A));
    });

    it('lookups refuse a non-string id', async () => {
      await expectFleetError(store().getNode(undefined as unknown as string), 'invalid_argument');
      await expectFleetError(store().deleteNode('' as string), 'invalid_argument');
    });
  });
}

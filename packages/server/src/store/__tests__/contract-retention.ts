import { describe, expect, it } from 'vitest';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { sampleEvent, T0 } from './store-fixtures.js';

const N1 = 'did:key:z6MkKeep1';
const N2 = 'did:key:z6MkKeep2';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Contract cases for agent event retention: pruning by receipt time and trimming per node. */
export function retentionContract(store: StoreRef): void {
  describe('agent event retention', () => {
    it('prunes by when the server received an event, oldest first, in chunks', async () => {
      // N1's events claim a far-future ts: only receivedAt counts.
      await store().insertAgentEvents(range(1, 10).map((s) => sampleEvent(N1, s, { ts: T0 + 1e12, receivedAt: T0 + s })));
      await store().insertAgentEvents(range(1, 3).map((s) => sampleEvent(N2, s, { receivedAt: T0 + 100 + s })));
      expect(await store().pruneAgentEventsBefore(T0 + 8, 4)).toBe(4);
      expect(await store().pruneAgentEventsBefore(T0 + 8, 4)).toBe(3);
      expect(await store().pruneAgentEventsBefore(T0 + 8, 4)).toBe(0);
      expect((await store().listAgentEvents({ nodeId: N1 })).map((e) => e.seq)).toEqual([10, 9, 8]);
      expect(await store().listAgentEvents({ nodeId: N2 })).toHaveLength(3);
    });

    it('finds nodes over a cap and trims each to its newest events', async () => {
      await store().insertAgentEvents(range(1, 12).map((s) => sampleEvent(N1, s * 2)));
      await store().insertAgentEvents(range(1, 4).map((s) => sampleEvent(N2, s)));
      expect(await store().nodesOverEventCap(5)).toEqual([{ nodeId: N1, events: 12 }]);
      expect(await store().nodesOverEventCap(3)).toEqual([
        { nodeId: N1, events: 12 },
        { nodeId: N2, events: 4 },
      ]);
      expect(await store().trimNodeEvents(N1, 5, 3)).toBe(3);
      expect(await store().trimNodeEvents(N1, 5, 100)).toBe(4);
      expect(await store().trimNodeEvents(N1, 5, 100)).toBe(0);
      expect((await store().listAgentEvents({ nodeId: N1 })).map((e) => e.seq)).toEqual([24, 22, 20, 18, 16]);
      expect(await store().trimNodeEvents('did:key:z6MkNobody', 1, 10)).toBe(0);
      expect(await store().listAgentEvents({ nodeId: N2 })).toHaveLength(4);
    });

    it('refuses garbage arguments', async () => {
      await expectFleetError(store().pruneAgentEventsBefore(Number.NaN, 10), 'invalid_argument');
      await expectFleetError(store().pruneAgentEventsBefore(T0, 0), 'invalid_argument');
      await expectFleetError(store().nodesOverEventCap(-1), 'invalid_argument');
      await expectFleetError(store().trimNodeEvents('', 5, 10), 'invalid_argument');
      await expectFleetError(store().trimNodeEvents(N1, 5, 1e9), 'invalid_argument');
      await expectFleetError(store().trimNodeEvents(N1, '5' as never, 10), 'invalid_argument');
    });
  });
}

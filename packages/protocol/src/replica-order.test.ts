import { describe, expect, it } from 'vitest';
import { replicaOrderFor } from './replica-order.js';

/** The replica list each agent is welcomed with: its own order, the same from every replica. */
describe('replicaOrderFor', () => {
  const urls = ['https://cp-1:7420', 'https://cp-2:7421', 'https://cp-3:7422', 'https://cp-4:7423'];
  const nodes = Array.from({ length: 2000 }, (_, i) => `did:key:z6MkNode${i}`);

  it('gives each node the same order whichever replica answers, whatever order it lists them in', () => {
    for (const id of nodes.slice(0, 50)) {
      const order = replicaOrderFor(id, urls);
      expect(replicaOrderFor(id, [...urls].reverse())).toEqual(order);
      expect([...order].sort()).toEqual(urls);
    }
  });

  it('spreads first choices evenly, and a dead replica’s agents evenly over the survivors', () => {
    const count = (pick: (order: string[]) => string | undefined, ids: string[]) => {
      const m = new Map<string, number>();
      for (const id of ids) {
        const u = pick(replicaOrderFor(id, urls));
        if (u) m.set(u, (m.get(u) ?? 0) + 1);
      }
      return m;
    };
    const firsts = count((o) => o[0], nodes);
    expect(firsts.size).toBe(4);
    for (const n of firsts.values()) expect(n).toBeGreaterThan(2000 / 4 - 100);
    // cp-1 dies: where do its agents go next?
    const orphans = nodes.filter((id) => replicaOrderFor(id, urls)[0] === urls[0]);
    const next = count((o) => o[1], orphans);
    expect([...next.keys()].sort()).toEqual(urls.slice(1));
    for (const n of next.values()) expect(n).toBeGreaterThan(orphans.length / 3 - 60);
  });

  it('leaves a single URL and an empty list alone', () => {
    expect(replicaOrderFor('x', ['https://a'])).toEqual(['https://a']);
    expect(replicaOrderFor('x', [])).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { rotateFor } from './agent-gateway.js';

/** The replica list each agent is welcomed with: spread by node, the same from every replica. */
describe('rotateFor', () => {
  const urls = ['https://cp-1:7420', 'https://cp-2:7421', 'https://cp-3:7422'];

  it('gives each node the same order whichever replica answers (whatever order it lists them in)', () => {
    for (const id of ['did:key:z6MkA', 'did:key:z6MkB', 'did:key:z6MkC']) expect(rotateFor(id, urls)).toEqual(rotateFor(id, [...urls].reverse()));
  });

  it('spreads nodes over the replicas, so a dead replica’s agents do not all move to one', () => {
    const firsts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const order = rotateFor(`did:key:z6MkNode${i}`, urls);
      expect([...order].sort()).toEqual(urls);
      firsts.set(order[0]!, (firsts.get(order[0]!) ?? 0) + 1);
    }
    expect(firsts.size).toBe(3);
    for (const n of firsts.values()) expect(n).toBeGreaterThan(60);
  });

  it('leaves a single URL and an empty list alone', () => {
    expect(rotateFor('x', ['https://a'])).toEqual(['https://a']);
    expect(rotateFor('x', [])).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { chooseReplacements } from './replacement-choice.js';

const NOW = 1_000_000;
const u = (nodeId: string, forMs: number) => ({ nodeId, unhealthySince: NOW - forMs });

describe('chooseReplacements', () => {
  const all = [u('a', 30_000), u('b', 180_000), u('c', 121_000), u('d', 500_000)];
  const opts = { now: NOW, replaceAfterMs: 120_000, inFlight: 0, maxParallel: 2, beingReplaced: new Set<string>() };
  it('unhealthy for replace_after, the longest first, at most max_parallel', () => {
    expect(chooseReplacements(all, opts).map((x) => x.nodeId)).toEqual(['d', 'b']);
  });
  it('replacements in flight use up the room', () => {
    expect(chooseReplacements(all, { ...opts, inFlight: 1 }).map((x) => x.nodeId)).toEqual(['d']);
    expect(chooseReplacements(all, { ...opts, inFlight: 2 })).toEqual([]);
  });
  it('a node being replaced is not chosen again', () => {
    expect(chooseReplacements(all, { ...opts, beingReplaced: new Set(['d']) }).map((x) => x.nodeId)).toEqual(['b', 'c']);
  });
  it('max_parallel 0 replaces nothing', () => {
    expect(chooseReplacements(all, { ...opts, maxParallel: 0 })).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { chooseRemovals, type RemovalCandidate } from './scale-down-choice.js';

const NOW = 10_000_000;
const c = (id: string, provisionedAt: number, patch: Partial<RemovalCandidate> = {}): RemovalCandidate => ({
  instanceId: id,
  nodeId: `node-${id}`,
  provisionedAt,
  pricePerHour: 10,
  idleSince: NOW - 60_000,
  ready: true,
  ...patch,
});

describe('chooseRemovals', () => {
  it('takes idle nodes only, oldest first', () => {
    const got = chooseRemovals([c('young', 300), c('busy', 100, { idleSince: null }), c('old', 200)], 2, NOW, 0);
    expect(got.map((x) => x.instanceId)).toEqual(['old', 'young']);
  });
  it('among the same age, the most expensive first; unknown price last', () => {
    const got = chooseRemovals(
      [c('cheap', 100, { pricePerHour: 1 }), c('unknown', 100, { pricePerHour: null }), c('dear', 100, { pricePerHour: 50 })],
      3,
      NOW,
      0,
    );
    expect(got.map((x) => x.instanceId)).toEqual(['dear', 'cheap', 'unknown']);
  });
  it('idle for less than idle_for is kept', () => {
    const got = chooseRemovals([c('fresh', 100, { idleSince: NOW - 1000 }), c('long', 200, { idleSince: NOW - 30 * 60_000 })], 2, NOW, 30 * 60_000);
    expect(got.map((x) => x.instanceId)).toEqual(['long']);
  });
  it('a node that is not READY is not removed, and count caps the choice', () => {
    expect(chooseRemovals([c('down', 100, { ready: false }), c('a', 200), c('b', 300)], 1, NOW, 0).map((x) => x.instanceId)).toEqual(['a']);
    expect(chooseRemovals([c('a', 200)], 0, NOW, 0)).toEqual([]);
  });
});

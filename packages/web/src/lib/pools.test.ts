import { describe, expect, it } from 'vitest';
import { poolEventFixture } from '../testing/pool-fixture.js';
import { eventItems, eventsCursor, mergeEvents, opSteps, parseScaleTarget, poolApiPath, poolPagePath, sizeText } from './pools.js';

describe('pool helpers', () => {
  it('lays out each kind of operation as its steps, with the stage current', () => {
    const at = (kind: 'provision' | 'replace' | 'scale-down', stage: Parameters<typeof opSteps>[0]['stage']) =>
      opSteps({ kind, stage }).map((s) => `${s.stage}:${s.state}`);
    expect(at('provision', 'requested')).toEqual(['requested:current', 'provisioning:todo', 'joining:todo', 'done:todo']);
    expect(at('replace', 'terminating')).toEqual(['requested:done', 'provisioning:done', 'joining:done', 'draining:done', 'terminating:current', 'done:todo']);
    expect(at('scale-down', 'done')).toEqual(['draining:done', 'terminating:done', 'done:done']);
    // Failed: none current (the failure is shown beside them); a stage foreign to the kind: none done.
    expect(at('replace', 'failed').every((s) => s.endsWith(':todo'))).toBe(true);
    expect(at('provision', 'draining')).toEqual(['requested:todo', 'provisioning:todo', 'joining:todo', 'done:todo']);
  });

  it('checks the scale target: whole numbers within min..max only', () => {
    expect(parseScaleTarget(' 7 ', 2, 10)).toEqual({ ok: true, to: 7 });
    expect(parseScaleTarget('2', 2, 10)).toEqual({ ok: true, to: 2 });
    expect(parseScaleTarget('10', 2, 10)).toEqual({ ok: true, to: 10 });
    for (const bad of ['', '  ', 'ten', '7.0', '1e1', '+3', '-3', '٣', '3 nodes']) expect(parseScaleTarget(bad, 2, 10).ok, bad).toBe(false);
    expect(parseScaleTarget('11', 2, 10)).toEqual({ ok: false, message: "Nodes: must be between 2 and 10 (the pool's min..max)" });
    expect(parseScaleTarget('0', 0, 0)).toEqual({ ok: true, to: 0 });
    expect(parseScaleTarget('x'.repeat(100), 0, 5)).toEqual({ ok: false, message: `Nodes: "${'x'.repeat(20)}" is not a whole number of nodes` });
  });

  it('merges polled events once each, newest first, keeping the newest only', () => {
    const held = [poolEventFixture(3), poolEventFixture(1), poolEventFixture(2)];
    const merged = mergeEvents(held, [poolEventFixture(3, { message: 'again' }), poolEventFixture(5), poolEventFixture(4)], 4);
    expect(merged.map((e) => e.id)).toEqual([5, 4, 3, 2]);
    expect(eventsCursor(merged)).toBe(5);
    expect(eventsCursor([])).toBeNull();
    expect(eventsCursor(undefined)).toBeNull();
  });

  it('reads an events answer, and garbage as no events', () => {
    expect(eventItems({ items: [poolEventFixture(1)] }).map((e) => e.id)).toEqual([1]);
    expect(eventItems({ items: 'nope' })).toEqual([]);
    expect(eventItems(null)).toEqual([]);
    expect(eventItems({})).toEqual([]);
  });

  it('writes paths with the name encoded and the size with its bounds', () => {
    expect(poolPagePath('gpu pool/x')).toBe('/pools/gpu%20pool%2Fx');
    expect(poolApiPath('training')).toBe('/api/v1/pools/training');
    expect(sizeText({ ready: 3, desired: 4, minNodes: 2, maxNodes: 100 })).toBe('3/4 (2..100)');
  });
});

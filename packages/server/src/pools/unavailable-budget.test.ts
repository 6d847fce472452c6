import { describe, expect, it } from 'vitest';
import { mayTakeDown, type MemberAvailability } from './unavailable-budget.js';

const m = (nodeId: string, ready: boolean, awaitingReplacement = false): MemberAvailability => ({ nodeId, ready, awaitingReplacement });

describe('mayTakeDown', () => {
  const ten = Array.from({ length: 10 }, (_, i) => m(`n${i}`, true));
  it('10% of 10 allows one node down at a time', () => {
    expect(mayTakeDown('n0', ten, { kind: 'percent', percent: 10 })).toEqual({ ok: true, unavailable: 0, allowed: 1 });
    const oneDown = ten.map((x) => (x.nodeId === 'n1' ? m('n1', false) : x));
    expect(mayTakeDown('n0', oneDown, { kind: 'percent', percent: 10 }).ok).toBe(false);
  });
  it('the node itself, already cordoned, is not counted twice', () => {
    const selfDown = ten.map((x) => (x.nodeId === 'n0' ? m('n0', false) : x));
    expect(mayTakeDown('n0', selfDown, { kind: 'count', count: 1 }).ok).toBe(true);
  });
  it('old nodes waiting for their replacement do not block each other', () => {
    const two = ten.map((x) => (x.nodeId === 'n1' || x.nodeId === 'n0' ? m(x.nodeId, false, true) : x));
    expect(mayTakeDown('n0', two, { kind: 'count', count: 1 }).ok).toBe(true);
  });
  it('max_unavailable 0 never lets a node go', () => {
    expect(mayTakeDown('n0', ten, { kind: 'count', count: 0 })).toMatchObject({ ok: false, allowed: 0 });
  });
});

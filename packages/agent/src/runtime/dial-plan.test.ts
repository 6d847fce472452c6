import { describe, expect, it } from 'vitest';
import { DialPlan } from './dial-plan.js';

const A = 'https://a:7420';
const B = 'https://b:7421';
const C = 'https://c:7422';

// random 0.5: half the backoff ceiling, so the waits read 50, 100, 200... with base 100.
const plan = (urls: string[]) => new DialPlan(urls, () => 0.5, { baseMs: 100, capMs: 1000 });

describe('DialPlan', () => {
  it('moves round-robin while dials get no welcome, backing off every attempt', () => {
    const p = plan([A, B, C]);
    const seen: [string, number][] = [];
    for (let i = 0; i < 5; i++) {
      const url = p.current;
      seen.push([url, p.afterClose(false)]);
    }
    expect(seen).toEqual([
      [A, 50],
      [B, 100],
      [C, 200],
      [A, 400],
      [B, 500],
    ]);
    expect(p.current).toBe(C);
  });

  it('sticks to the replica that welcomed, retrying it once soon after a drop, then moves on', () => {
    const p = plan([A, B]);
    p.afterClose(false);
    expect(p.current).toBe(B);
    p.welcomed();
    expect(p.afterClose(true)).toBe(50);
    expect(p.current).toBe(B);
    expect(p.afterClose(false)).toBe(100);
    expect(p.current).toBe(A);
  });

  it('takes a new list with the replica in use first, or the list as sent when it is not in it', () => {
    const p = plan([A, B]);
    expect(p.replace([C, A, B], A)).toBe(true);
    expect(p.list).toEqual([A, C, B]);
    expect(p.current).toBe(A);
    expect(p.replace([A, C, B], A)).toBe(false);
    expect(p.replace([B, C], A)).toBe(true);
    expect(p.current).toBe(B);
    expect(p.replace([], B)).toBe(false);
    expect(p.list).toEqual([B, C]);
  });

  it('needs at least one URL and drops repeats', () => {
    expect(() => plan([])).toThrow(/at least one server URL/);
    expect(plan([A, A, B]).list).toEqual([A, B]);
  });
});

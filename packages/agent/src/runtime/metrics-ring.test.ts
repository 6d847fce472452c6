import { describe, expect, it } from 'vitest';
import { MetricsRing } from './metrics-ring.js';

describe('MetricsRing', () => {
  it('keeps at most its capacity, dropping the oldest first', () => {
    const ring = new MetricsRing<number>(3);
    for (let i = 1; i <= 5; i++) ring.push(i);
    expect(ring.size).toBe(3);
    expect(ring.dropped).toBe(2);
    expect(ring.drain()).toEqual([3, 4, 5]);
  });

  it('returns the sample it dropped to make room', () => {
    const ring = new MetricsRing<string>(2);
    expect(ring.push('a')).toBeUndefined();
    expect(ring.push('b')).toBeUndefined();
    expect(ring.push('c')).toBe('a');
  });

  it('drains oldest first and is empty afterwards, also after wrapping many times', () => {
    const ring = new MetricsRing<number>(4);
    for (let i = 0; i < 23; i++) ring.push(i);
    expect(ring.drain()).toEqual([19, 20, 21, 22]);
    expect(ring.size).toBe(0);
    expect(ring.drain()).toEqual([]);
    ring.push(99);
    expect(ring.drain()).toEqual([99]);
  });

  it('defaults to 360 samples (an hour at 10 s)', () => {
    const ring = new MetricsRing<number>();
    for (let i = 0; i < 400; i++) ring.push(i);
    const all = ring.drain();
    expect(all).toHaveLength(360);
    expect(all[0]).toBe(40);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new MetricsRing(0)).toThrow(/positive integer/);
    expect(() => new MetricsRing(1.5)).toThrow(/positive integer/);
    expect(() => new MetricsRing(Number.NaN)).toThrow(/positive integer/);
  });
});

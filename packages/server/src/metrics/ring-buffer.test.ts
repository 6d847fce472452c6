import { describe, expect, it } from 'vitest';
import { RingBuffer, valueBlock } from './ring-buffer.js';

function timesOf(ring: RingBuffer): number[] {
  const out: number[] = [];
  for (let i = 0; i < ring.size; i++) out.push(ring.times[ring.slot(i)]!);
  return out;
}

describe('RingBuffer', () => {
  it('wraps around and keeps the newest points in order', () => {
    const ring = new RingBuffer(4);
    expect(ring.newestTime).toBe(-Infinity);
    expect(ring.oldestTime).toBe(Infinity);
    const slots: number[] = [];
    for (let t = 1; t <= 10; t++) slots.push(ring.append(t * 10));
    expect(slots).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
    expect(ring.size).toBe(4);
    expect(timesOf(ring)).toEqual([70, 80, 90, 100]);
    expect(ring.newestTime).toBe(100);
    expect(ring.oldestTime).toBe(70);
    expect(ring.times.length).toBe(4);
  });

  it('finds the first point at or after a time across the wrap', () => {
    const ring = new RingBuffer(5);
    for (let t = 1; t <= 7; t++) ring.append(t * 10); // holds 30..70, wrapped
    expect(ring.lowerBound(0)).toBe(0);
    expect(ring.lowerBound(30)).toBe(0);
    expect(ring.lowerBound(31)).toBe(1);
    expect(ring.lowerBound(60)).toBe(3);
    expect(ring.lowerBound(70)).toBe(4);
    expect(ring.lowerBound(71)).toBe(5);
  });

  it('drops points older than a time and keeps appending after', () => {
    const ring = new RingBuffer(5);
    for (let t = 1; t <= 7; t++) ring.append(t * 10);
    expect(ring.dropBefore(55)).toBe(3);
    expect(timesOf(ring)).toEqual([60, 70]);
    ring.append(80);
    expect(timesOf(ring)).toEqual([60, 70, 80]);
    expect(ring.dropBefore(1000)).toBe(3);
    expect(ring.size).toBe(0);
    expect(ring.newestTime).toBe(-Infinity);
    ring.append(90);
    expect(timesOf(ring)).toEqual([90]);
    ring.clear();
    expect(ring.size).toBe(0);
  });

  it('refuses a capacity that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new RingBuffer(bad)).toThrow(RangeError);
  });

  it('makes value blocks that start unset', () => {
    const block = valueBlock(3, 4);
    expect(block.length).toBe(12);
    expect(Array.from(block).every(Number.isNaN)).toBe(true);
  });
});

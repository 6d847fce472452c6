import { describe, expect, it } from 'vitest';
import { RecentOrders } from './recent-orders.js';

class Clock {
  t = 1_000;
  now(): number {
    return this.t;
  }
}

/** Busy for `ms` of real time: an order that takes long to make. */
function slowly<T>(ms: number, value: T): () => T {
  return () => {
    const end = performance.now() + ms;
    while (performance.now() < end);
    return value;
  };
}

describe('RecentOrders', () => {
  it('keeps an order ttlMs from when it was ready, then makes it again', () => {
    const clock = new Clock();
    const orders = new RecentOrders<number>(100, 4);
    let made = 0;
    const make = () => [++made];
    expect(orders.get('q', clock, make)).toEqual([1]);
    clock.t += 99;
    expect(orders.get('q', clock, make)).toEqual([1]);
    clock.t += 1;
    expect(orders.get('q', clock, make)).toEqual([2]);
    // Another query is its own order.
    expect(orders.get('other', clock, make)).toEqual([3]);
  });

  it('keeps an order that took long to make five times as long as it took', () => {
    const clock = new Clock();
    const orders = new RecentOrders<string>(10, 4);
    orders.get('q', clock, slowly(40, ['slow']));
    // Kept at least 5 x 40 ms, far past the 10 ms floor.
    clock.t += 150;
    expect(orders.get('q', clock, () => ['again'])).toEqual(['slow']);
    clock.t += 1_000;
    expect(orders.get('q', clock, () => ['again'])).toEqual(['again']);
  });

  it('counts from when the order was ready, not from when it was asked for', () => {
    const clock = new Clock();
    const orders = new RecentOrders<string>(100, 4);
    // The clock moves while the order is made (a slow build on a real clock).
    orders.get('q', clock, () => {
      clock.t += 500;
      return ['made'];
    });
    clock.t += 50;
    expect(orders.get('q', clock, () => ['again'])).toEqual(['made']);
  });

  it('holds at most `max` queries, dropping the oldest', () => {
    const clock = new Clock();
    const orders = new RecentOrders<string>(1_000, 2);
    orders.get('a', clock, () => ['a1']);
    orders.get('b', clock, () => ['b1']);
    orders.get('c', clock, () => ['c1']);
    expect(orders.get('b', clock, () => ['b2'])).toEqual(['b1']);
    expect(orders.get('a', clock, () => ['a2'])).toEqual(['a2']);
  });
});

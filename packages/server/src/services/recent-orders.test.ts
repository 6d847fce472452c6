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
  it('keeps an order ttlMs from when it was ready, then makes it again', async () => {
    const clock = new Clock();
    const orders = new RecentOrders<number>(100, 4);
    let made = 0;
    const make = () => [++made];
    expect(await orders.get('q', clock, make)).toEqual([1]);
    clock.t += 99;
    expect(await orders.get('q', clock, make)).toEqual([1]);
    clock.t += 1;
    expect(await orders.get('q', clock, make)).toEqual([2]);
    // Another query is its own order.
    expect(await orders.get('other', clock, make)).toEqual([3]);
  });

  it('keeps an order that took long to make five times as long as it took', async () => {
    const clock = new Clock();
    const orders = new RecentOrders<string>(10, 4);
    await orders.get('q', clock, slowly(40, ['slow']));
    // Kept at least 5 x 40 ms, far past the 10 ms floor.
    clock.t += 150;
    expect(await orders.get('q', clock, () => ['again'])).toEqual(['slow']);
    clock.t += 1_000;
    expect(await orders.get('q', clock, () => ['again'])).toEqual(['again']);
  });

  it('counts from when the order was ready, not from when it was asked for', async () => {
    const clock = new Clock();
    const orders = new RecentOrders<string>(100, 4);
    // The clock moves while the order is made (a slow build on a real clock).
    await orders.get('q', clock, () => {
      clock.t += 500;
      return ['made'];
    });
    clock.t += 50;
    expect(await orders.get('q', clock, () => ['again'])).toEqual(['made']);
  });

  it('holds at most `max` queries, dropping the oldest', async () => {
    const clock = new Clock();
    const orders = new RecentOrders<string>(1_000, 2);
    await orders.get('a', clock, () => ['a1']);
    await orders.get('b', clock, () => ['b1']);
    await orders.get('c', clock, () => ['c1']);
    expect(await orders.get('b', clock, () => ['b2'])).toEqual(['b1']);
    expect(await orders.get('a', clock, () => ['a2'])).toEqual(['a2']);
  });

  it('makes an order once while it is being made, however many ask for it', async () => {
    const clock = new Clock();
    const orders = new RecentOrders<string>(1_000, 4);
    let made = 0;
    let finish!: (rows: string[]) => void;
    const make = () => {
      made++;
      return new Promise<string[]>((resolve) => {
        finish = resolve;
      });
    };
    const first = orders.get('q', clock, make);
    const second = orders.get('q', clock, make);
    finish(['made']);
    expect(await Promise.all([first, second])).toEqual([['made'], ['made']]);
    expect(made).toBe(1);
  });

  it('makes the order again after a make that failed', async () => {
    const clock = new Clock();
    const orders = new RecentOrders<string>(1_000, 4);
    await expect(orders.get('q', clock, () => Promise.reject(new Error('store gone')))).rejects.toThrow('store gone');
    expect(await orders.get('q', clock, () => ['made'])).toEqual(['made']);
  });
});

import { describe, expect, it } from 'vitest';
import { createJsonLogger } from '../runtime/logger.js';
import { FakeKmsg } from './__tests__/fake-kmsg.js';
import type { KmsgRecord } from './kmsg-record.js';
import { KmsgSource } from './kmsg-source.js';

function setup(fake: FakeKmsg) {
  const seen: [number, boolean][] = [];
  const logs: string[] = [];
  const src = new KmsgSource({
    path: '/dev/kmsg',
    fs: fake,
    pollMs: 1_000_000,
    logger: createJsonLogger({ level: 'debug', write: (l) => logs.push(l) }),
    onRecord: (r: KmsgRecord, backlog) => seen.push([r.seq, backlog]),
  });
  return { src, seen, logs };
}

describe('KmsgSource', () => {
  it('marks what the ring held at open as backlog, then reads new records as they come', () => {
    const fake = new FakeKmsg();
    fake.add('6,1,100,-;a', '6,2,200,-;b');
    const { src, seen } = setup(fake);
    src.open();
    src.start();
    expect(seen).toEqual([
      [1, true],
      [2, true],
    ]);
    fake.add('6,3,300,-;c');
    src.poll();
    src.poll();
    expect(seen).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    src.stop();
    expect(fake.closes).toBe(1);
  });

  it('goes on after EPIPE (ring overrun) and counts it', () => {
    const fake = new FakeKmsg();
    const { src, seen, logs } = setup(fake);
    src.open();
    src.start();
    fake.add('6,1,100,-;a');
    fake.errors.push('EPIPE');
    src.poll();
    expect(seen.map((s) => s[0])).toEqual([1]);
    expect(src.overruns).toBe(1);
    expect(logs.join('')).toContain('overran');
    // A gap in seq is an overrun too.
    fake.add('6,5,500,-;e');
    src.poll();
    expect(src.overruns).toBe(4);
    src.stop();
  });

  it('reopens after another read error and skips what it had already seen', () => {
    const fake = new FakeKmsg();
    fake.add('6,1,100,-;a', '6,2,200,-;b');
    const { src, seen } = setup(fake);
    src.open();
    src.start();
    fake.errors.push('EIO');
    src.poll();
    expect(src.readErrors).toBe(1);
    fake.add('6,3,300,-;c');
    // The reopen starts at the oldest record again: 1 and 2 must not come twice.
    src.poll();
    expect(seen).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    expect(fake.opens).toBe(2);
    src.stop();
  });

  it('keeps trying to reopen while the device refuses, without throwing', () => {
    const fake = new FakeKmsg();
    const { src } = setup(fake);
    src.open();
    fake.errors.push('EIO');
    src.poll();
    fake.refuseOpen = 'EACCES';
    expect(() => src.poll()).not.toThrow();
    fake.refuseOpen = null;
    fake.add('6,1,1,-;x');
    src.poll();
    expect(fake.opens).toBe(2);
  });

  it('skips records that are not kmsg records and survives a throwing handler', () => {
    const fake = new FakeKmsg();
    fake.add('garbage', '6,1,1,-;ok', '6,2,2,-;boom', '6,3,3,-;after');
    const seen: number[] = [];
    const src = new KmsgSource({
      path: '/dev/kmsg',
      fs: fake,
      pollMs: 1_000_000,
      logger: createJsonLogger({ write: () => {} }),
      onRecord: (r) => {
        if (r.message === 'boom') throw new Error('handler bug');
        seen.push(r.seq);
      },
    });
    src.open();
    src.poll();
    expect(seen).toEqual([1, 3]);
  });

  it('lets open() fail so the watcher can fall back', () => {
    const fake = new FakeKmsg();
    fake.refuseOpen = 'EPERM';
    const { src } = setup(fake);
    expect(() => src.open()).toThrow(/EPERM/);
  });
});

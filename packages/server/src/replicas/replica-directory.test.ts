import { FleetError } from '@gpufleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Backend, BACKENDS, eventually, FakeClock, openBackend, recordingLog } from './__tests__/replica-test-kit.js';
import { REPLICA_URLS_BUCKET, REPLICAS_BUCKET, ReplicaDirectory, type ReplicaDirectoryOptions } from './replica-directory.js';
import { parseReplicaRecord } from './replica-record.js';

const BEAT = 150;

describe('parseReplicaRecord', () => {
  const good = { name: 'a', instance: 'i', url: 'http://a', startedAt: 1, heartbeatAt: 2, agents: 0, leases: ['alerts'], version: '0.1.0' };

  it('reads a whole record and drops fields it does not know', () => {
    expect(parseReplicaRecord({ ...good, extra: true })).toEqual(good);
  });

  it('reads garbage as null', () => {
    const garbage: unknown[] = [
      null,
      undefined,
      'a',
      42,
      [],
      {},
      { ...good, name: 5 },
      { ...good, url: undefined },
      { ...good, agents: -1 },
      { ...good, startedAt: 1.5 },
      { ...good, heartbeatAt: '2' },
      { ...good, leases: 'alerts' },
      { ...good, leases: [1] },
      { ...good, version: null },
    ];
    for (const raw of garbage) expect(parseReplicaRecord(raw), JSON.stringify(raw)).toBeNull();
  });
});

describe.each(BACKENDS)('ReplicaDirectory over the %s bus', (kind) => {
  let backend: Backend;
  let clock: FakeClock;
  const directories: ReplicaDirectory[] = [];

  /** A replica's directory on a bus of its own; its clock is the test's (heartbeats, last seen). */
  async function directory(name: string, o: Partial<ReplicaDirectoryOptions> = {}): Promise<ReplicaDirectory> {
    const d = new ReplicaDirectory({
      bus: await backend.open(),
      name,
      instance: `${name}-1`,
      clock,
      beatMs: BEAT,
      url: () => `http://${name}.test:8080`,
      agents: () => 3,
      leases: () => ['alerts'],
      version: '0.1.0',
      log: recordingLog(),
      ...o,
    });
    directories.push(d);
    return d;
  }

  const names = (d: ReplicaDirectory) => d.list().map((r) => `${r.name}${r.self ? '*' : ''}`);

  beforeEach(async () => {
    backend = await openBackend(kind);
    clock = new FakeClock();
  });

  afterEach(async () => {
    await Promise.all(directories.splice(0).map((d) => d.stop()));
    await backend.cleanup();
  });

  it('two replicas see each other, each listing itself first', async () => {
    const b = await directory('b');
    await b.start();
    const a = await directory('a');
    await a.start();
    // a read the bucket in start(); b finds a at its next beat.
    expect(names(a)).toEqual(['a*', 'b']);
    await eventually(() => names(b).join() === 'b*,a');
    const [, seenA] = b.list();
    expect(seenA).toMatchObject({ name: 'a', instance: 'a-1', url: 'http://a.test:8080', agents: 3, leases: ['alerts'], version: '0.1.0', self: false });
    expect(a.ttlMs).toBe(BEAT * 3);
  });

  it('refuses a second live replica under the same name, naming --replica-name, and leaves the first one be', async () => {
    const a = await directory('a');
    await a.start();
    const impostor = await directory('a', { instance: 'a-2', url: () => 'http://impostor' });
    const err = await impostor.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FleetError);
    expect((err as FleetError).code).toBe('already_exists');
    expect((err as FleetError).message).toContain('--replica-name');
    expect((err as FleetError).message).toContain('http://a.test:8080');
    // The entry is still the first replica's, and keeps being renewed by it.
    const b = await directory('b');
    await b.start();
    expect(b.isAlive('a', 'a-1')).toBe(true);
    expect(b.isAlive('a', 'a-2')).toBe(false);
    await impostor.stop(); // stopping the refused one must not remove the live one's entry
    const kv = await (await backend.open()).kv(REPLICAS_BUCKET, { ttlMs: BEAT * 3 });
    expect((await kv.get('a'))?.json()).toMatchObject({ instance: 'a-1' });
  });

  it('stop() removes the entry and the URL at once; the others drop both at their next beat', async () => {
    const a = await directory('a');
    const b = await directory('b');
    await a.start();
    await b.start();
    const bus = await backend.open();
    const kv = await bus.kv(REPLICAS_BUCKET, { ttlMs: BEAT * 3 });
    const urls = await bus.kv(REPLICA_URLS_BUCKET);
    // b records its URL at its first beat.
    await eventually(async () => (await urls.get('b'))?.json<{ url: string }>().url === 'http://b.test:8080');
    await eventually(() => a.isAlive('b', 'b-1'));
    await b.stop();
    // Gone from the buckets now, not after the TTL.
    expect(await kv.get('b')).toBeNull();
    expect(await urls.get('b')).toBeNull();
    await eventually(() => names(a).join() === 'a*' && !a.urls().includes('http://b.test:8080'));
    expect(a.isAlive('b', 'b-1')).toBe(false);
  });

  it('a replica that dies without stopping drops out once its entry lapses, and its name is free again', async () => {
    const a = await directory('a');
    const busB = await backend.open();
    const b = await directory('b', { bus: busB });
    await a.start();
    await b.start();
    const urls = await (await backend.open()).kv(REPLICA_URLS_BUCKET);
    await eventually(async () => a.isAlive('b', 'b-1') && (await urls.get('b')) !== null);
    // Kill b: its bus goes away under it, so it neither renews nor deletes its entry.
    await busB.close();
    await eventually(() => !a.isAlive('b', 'b-1'), 5_000);
    expect(names(a)).toEqual(['a*']);
    // Down but not stopped on purpose: agents keep its URL to try.
    expect(a.urls()).toEqual(['http://a.test:8080', 'http://b.test:8080']);
    // A restart under the same name is a new instance, and is welcome now.
    const b2 = await directory('b', { instance: 'b-2' });
    await b2.start();
    await eventually(() => a.isAlive('b', 'b-2'));
    expect(a.isAlive('b', 'b-1')).toBe(false);
  });

  it('isAlive() wants the right instance; lastSeenAlive() keeps the last beat that saw a replica', async () => {
    const a = await directory('a');
    const b = await directory('b');
    const c = await directory('c');
    await Promise.all([a.start(), b.start(), c.start()]);
    expect(a.isAlive('a', 'a-1')).toBe(true);
    expect(a.isAlive('a', 'a-9')).toBe(false);
    expect(a.isAlive('nobody', 'x')).toBe(false);
    expect(a.lastSeenAlive('nobody', 'x')).toBeNull();
    expect(a.lastSeenAlive('a', 'a-1')).toBe(clock.now());

    clock.t = 5_000;
    await eventually(() => a.lastSeenAlive('b', 'b-1') === 5_000 && a.isAlive('b', 'b-1') && !a.isAlive('b', 'b-2'));
    await b.stop();
    await eventually(() => !a.isAlive('b', 'b-1'));
    clock.t = 9_000;
    // c's entry is read at 9 000 from now on: once it is, a beat has passed without b.
    await eventually(() => a.lastSeenAlive('c', 'c-1') === 9_000);
    expect(a.lastSeenAlive('b', 'b-1')).toBe(5_000);
    // By instance: another instance under b's name was never seen.
    expect(a.lastSeenAlive('b', 'b-2')).toBeNull();
    expect(a.lastSeenAlive('a', 'a-1')).toBe(9_000);
  });

  it('urls() lists the live replicas that have a URL, this one first', async () => {
    const a = await directory('a');
    const b = await directory('b', { url: () => '' });
    const c = await directory('c', { url: () => 'http://c.test:8080' });
    await Promise.all([b.start(), c.start()]);
    await a.start();
    expect(a.urls()).toEqual(['http://a.test:8080', 'http://c.test:8080']);
    // b has no URL yet: it is listed, but not among the URLs.
    expect(b.list()[0]!.url).toBe('');
    // b and c started together: b may find c only at its next beat.
    await eventually(() => b.urls().join() === 'http://c.test:8080');
  });

  it('skips entries that are not replica records', async () => {
    const kv = await (await backend.open()).kv(REPLICAS_BUCKET, { ttlMs: BEAT * 3 });
    await kv.create('half', { name: 'half', instance: 'h' });
    await kv.create('list', [1, 2]);
    const a = await directory('a');
    await a.start();
    expect(names(a)).toEqual(['a*']);
    expect(a.isAlive('half', 'h')).toBe(false);
  });

  it('starts and keeps reading the others past values that are not JSON at all, in either bucket', async () => {
    const bus = await backend.open();
    const kv = await bus.kv(REPLICAS_BUCKET, { ttlMs: BEAT * 3 });
    const urls = await bus.kv(REPLICA_URLS_BUCKET);
    await kv.create('a', new Uint8Array([0xff, 0x00, 0x7b]));
    await urls.create('junk', new TextEncoder().encode('{not json'));
    await urls.create('nul', new TextEncoder().encode('null'));
    const a = await directory('a', { url: () => 'http://a.test:1' });
    await a.start();
    const b = await directory('b', { url: () => 'http://b.test:2' });
    await b.start();
    await eventually(() => names(a).length === 2 && a.urls().includes('http://b.test:2'));
    expect(names(a)).toEqual(['a*', 'b']);
  });

  it('a beat whose read of the buckets hangs is left behind: the replica keeps beating and still stops', async () => {
    const log = recordingLog();
    const bus = await backend.open();
    let hang = false;
    // The replica's bus, whose bucket reads never end once `hang` is set (a stuck KV consumer).
    const hanging: typeof bus = Object.create(bus);
    hanging.kv = async (name, o) => {
      const kv = await bus.kv(name, o);
      return Object.assign(Object.create(kv), { entries: () => (hang ? new Promise<never>(() => undefined) : kv.entries()) });
    };
    const a = await directory('a', { bus: hanging, log });
    await a.start();
    const kv = await bus.kv(REPLICAS_BUCKET, { ttlMs: BEAT * 3 });
    const revisionNow = async () => (await kv.get('a'))!.revision;
    hang = true;
    await eventually(() => log.messages().includes('a replica beat is hung; beating again without it'));
    // Still beating: its entry keeps being renewed, so it never lapses while the replica runs.
    const before = await revisionNow();
    await eventually(async () => (await revisionNow()) > before);
    const started = performance.now();
    await a.stop();
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(await kv.get('a')).toBeNull();
  });
});

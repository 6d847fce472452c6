import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Bus } from '../bus/bus.js';
import { buckets, kvKeys } from '../bus/subjects.js';
import { type Backend, BACKENDS, eventually, FakeClock, openBackend, recordingLog } from './__tests__/replica-test-kit.js';
import { ReplicaDirectory } from './replica-directory.js';
import { SessionOwners } from './session-owners.js';

const BEAT = 150;
const GRACE = 10_000;
// A DID as node ids are: its ':' must survive the trip through a KV key.
const NODE = 'did:key:z6MkNodeOne';
const OTHER = 'did:key:z6MkNodeTwo';

interface Replica {
  name: string;
  bus: Bus;
  directory: ReplicaDirectory;
  owners: SessionOwners;
  changes: string[];
  log: ReturnType<typeof recordingLog>;
}

describe.each(BACKENDS)('SessionOwners over the %s bus', (kind) => {
  let backend: Backend;
  // One clock for every replica: grace periods are judged by it, KV TTLs by real time.
  let clock: FakeClock;
  const replicas: Replica[] = [];

  /** A replica: its own bus, directory (beating) and session owners. */
  async function replica(name: string, instance = `${name}-1`): Promise<Replica> {
    const bus = await backend.open();
    const log = recordingLog();
    const directory = new ReplicaDirectory({
      bus,
      name,
      instance,
      clock,
      beatMs: BEAT,
      url: () => '',
      agents: () => 0,
      leases: () => [],
      version: 'test',
      log,
    });
    await directory.start();
    const changes: string[] = [];
    const owners = new SessionOwners({ bus, replica: name, instance, directory, clock, graceMs: GRACE, onChange: (id) => changes.push(id), log });
    await owners.start();
    const r = { name, bus, directory, owners, changes, log };
    replicas.push(r);
    return r;
  }

  /** Two replicas that see each other in the directory. */
  async function pair(): Promise<[Replica, Replica]> {
    const a = await replica('a');
    const b = await replica('b');
    await eventually(() => a.directory.isAlive('b', 'b-1') && b.directory.isAlive('a', 'a-1'));
    return [a, b];
  }

  beforeEach(async () => {
    backend = await openBackend(kind);
    clock = new FakeClock();
  });

  afterEach(async () => {
    for (const r of replicas.splice(0)) {
      await r.owners.stop();
      await r.directory.stop();
    }
    await backend.cleanup();
  });

  it('a claim on one replica shows on the other as held elsewhere', async () => {
    const [a, b] = await pair();
    a.owners.claim(NODE);
    await a.owners.settled();
    expect(a.owners.holderOf(NODE)).toBe('a');
    expect(a.owners.heldElsewhere(NODE)).toBe(false);
    expect(a.owners.liveHolderElsewhere(NODE)).toBeNull();
    // b hears of it through its watch.
    await eventually(() => b.owners.heldElsewhere(NODE));
    expect(b.owners.holderOf(NODE)).toBe('a');
    expect(b.owners.liveHolderElsewhere(NODE)).toBe('a');
    expect(b.changes).toContain(NODE);
    // Only that node.
    expect(b.owners.heldElsewhere(OTHER)).toBe(false);
    expect(b.owners.holderOf(OTHER)).toBeNull();
  });

  it('a release clears the claim everywhere', async () => {
    const [a, b] = await pair();
    a.owners.claim(NODE);
    await a.owners.settled();
    await eventually(() => b.owners.heldElsewhere(NODE));
    b.changes.length = 0;
    a.owners.release(NODE);
    await a.owners.settled();
    await eventually(() => b.owners.holderOf(NODE) === null);
    expect(b.owners.heldElsewhere(NODE)).toBe(false);
    expect(b.changes).toEqual([NODE]);
    await eventually(() => a.owners.holderOf(NODE) === null);
  });

  it('a session taken over by another replica is its: the old holder sees it elsewhere, and its late release leaves it', async () => {
    const [a, b] = await pair();
    a.owners.claim(NODE);
    await a.owners.settled();
    await eventually(() => b.owners.holderOf(NODE) === 'a');
    b.owners.claim(NODE);
    await b.owners.settled();
    expect(b.owners.holderOf(NODE)).toBe('b');
    expect(b.owners.heldElsewhere(NODE)).toBe(false);
    await eventually(() => a.owners.heldElsewhere(NODE));
    expect(a.owners.holderOf(NODE)).toBe('b');
    expect(a.owners.liveHolderElsewhere(NODE)).toBe('b');
    // a's old socket closes after the takeover: its release must not drop b's claim.
    a.owners.release(NODE);
    await a.owners.settled();
    const kv = await b.bus.kv(buckets.sessionOwners);
    expect((await kv.get(kvKeys.sessionOwner(NODE)))?.json()).toMatchObject({ replica: 'b', instance: 'b-1' });
    expect(b.owners.holderOf(NODE)).toBe('b');
    expect(a.owners.holderOf(NODE)).toBe('b');
  });

  it('a replica started later learns the claims made before it', async () => {
    const a = await replica('a');
    a.owners.claim(NODE);
    await a.owners.settled();
    const c = await replica('c');
    // Read in start(), before any change: the directory start() read a already.
    expect(c.owners.holderOf(NODE)).toBe('a');
    expect(c.owners.heldElsewhere(NODE)).toBe(true);
  });

  it('claims of a replica that restarted under the same name lapse after the grace: the new instance holds none of them', async () => {
    const [a, b] = await pair();
    a.owners.claim(NODE);
    await a.owners.settled();
    await eventually(() => b.owners.heldElsewhere(NODE));
    // a is SIGKILLed and started again: same name, new instance.
    await a.owners.stop();
    await a.directory.stop();
    const again = await replica('a', 'a-2');
    await eventually(() => b.directory.isAlive('a', 'a-2'));
    expect(b.owners.heldElsewhere(NODE)).toBe(true);
    clock.advance(GRACE + 1);
    expect(b.owners.heldElsewhere(NODE)).toBe(false);
    expect(again.owners.holderOf(NODE)).toBeNull();
  });

  it('believes a session-ready message about a new holder before its claim arrives, even while the old one is still listed', async () => {
    const [a, b] = await pair();
    const c = await replica('c');
    await eventually(() => b.directory.isAlive('c', 'c-1'));
    a.owners.claim(NODE);
    await a.owners.settled();
    await eventually(() => b.owners.holderOf(NODE) === 'a');
    // a froze (still listed, its claim still written); the agent was welcomed by c, whose claim has not gone out yet.
    expect(b.directory.isAlive('a', 'a-1')).toBe(true);
    b.owners.noteHolder(NODE, 'c', 'c-1');
    expect(b.owners.liveHolderElsewhere(NODE)).toBe('c');
    // An instance b does not know alive is not believed.
    b.owners.noteHolder(OTHER, 'ghost', 'g-1');
    expect(b.owners.holderOf(OTHER)).toBeNull();
    // c's real claim then lands on top.
    c.owners.claim(NODE);
    await c.owners.settled();
    await eventually(() => b.owners.liveHolderElsewhere(NODE) === 'c');
  });

  it('a dead holder still counts for the grace period after it was last seen, then not', async () => {
    const [a, b] = await pair();
    a.owners.claim(NODE);
    await a.owners.settled();
    await eventually(() => b.owners.heldElsewhere(NODE));
    // a dies: its directory entry goes, its claims stay written (nobody released them).
    await a.directory.stop();
    await eventually(() => !b.directory.isAlive('a', 'a-1'));
    const lastSeen = b.directory.lastSeenAlive('a', 'a-1');
    expect(lastSeen).toBe(clock.now());
    // Frames go only to a live holder; status counts the grace.
    expect(b.owners.liveHolderElsewhere(NODE)).toBeNull();
    expect(b.owners.heldElsewhere(NODE)).toBe(true);
    clock.advance(GRACE);
    expect(b.owners.heldElsewhere(NODE)).toBe(true);
    expect(b.owners.holderOf(NODE)).toBe('a');
    clock.advance(1);
    expect(b.owners.heldElsewhere(NODE)).toBe(false);
    expect(b.owners.holderOf(NODE)).toBeNull();
    // The session moves to b: it is b's at once.
    b.owners.claim(NODE);
    await b.owners.settled();
    expect(b.owners.holderOf(NODE)).toBe('b');
  });

  it('ignores garbage written into the bucket, before and after start', async () => {
    const a = await replica('a');
    const kv = await a.bus.kv(buckets.sessionOwners);
    const early = kvKeys.sessionOwner('early-node');
    await kv.create(early, new TextEncoder().encode('not json {'));
    await kv.create(kvKeys.sessionOwner('fieldless'), { owner: 'a' });
    await kv.create('not.a.token', { replica: 'x', instance: 'y' }); // a key no node id makes
    const c = await replica('c'); // reads the garbage in start()
    await kv.create(kvKeys.sessionOwner(NODE), new TextEncoder().encode('\u0000garbage'));
    await kv.create(kvKeys.sessionOwner(OTHER), { replica: 5, instance: null });
    await kv.create('x.y', { replica: 'x', instance: 'y' });
    // A good claim after the garbage proves the watch went past it all.
    a.owners.claim('good-node');
    await a.owners.settled();
    await eventually(() => c.owners.holderOf('good-node') === 'a');
    for (const id of ['early-node', 'fieldless', NODE, OTHER]) {
      expect(c.owners.holderOf(id), id).toBeNull();
      expect(c.owners.heldElsewhere(id), id).toBe(false);
    }
    // Garbage is overwritten by a real claim.
    c.owners.claim(NODE);
    await c.owners.settled();
    await eventually(() => a.owners.holderOf(NODE) === 'c');
  });

  it('claims and releases of one node happen in call order', async () => {
    const [a, b] = await pair();
    // Queued one after another: the last word (a claim) stands.
    a.owners.claim(NODE);
    a.owners.release(NODE);
    a.owners.claim(NODE);
    await a.owners.settled();
    // The watch replays the three writes after the fact; once it is through, both agree.
    await eventually(() => b.owners.holderOf(NODE) === 'a' && b.changes.length === 3);
    await eventually(() => a.owners.holderOf(NODE) === 'a' && a.changes.length === 3);
    const kv = await b.bus.kv(buckets.sessionOwners);
    expect((await kv.get(kvKeys.sessionOwner(NODE)))?.json()).toMatchObject({ replica: 'a' });
    expect(a.log.messages()).not.toContain('could not record this replica as the session holder');
  });
});

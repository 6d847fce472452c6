import { afterEach, describe, expect, it } from 'vitest';
import { InProcessBroker, InProcessBus } from '../bus/in-process-bus.js';
import { buckets, kvKeys } from '../bus/subjects.js';
import { RunFollowers } from './run-followers.js';

/** Replicas over one in-process broker; `alive` says which instances the directory sees. */
const broker = new InProcessBroker();
const alive = new Set<string>();
const buses: InProcessBus[] = [];
afterEach(async () => {
  for (const b of buses.splice(0)) await b.close();
  alive.clear();
});

async function replica(instance: string): Promise<RunFollowers> {
  const bus = new InProcessBus({ broker });
  buses.push(bus);
  alive.add(instance);
  const f = new RunFollowers({ bus, replica: instance.replace('i-', 'cp-'), instance, directory: { isAlive: (_n, i) => alive.has(i) } });
  await f.start();
  return f;
}

let n = 0;
const runId = () => `run-followers-${++n}`;

describe('RunFollowers', () => {
  it('one live follower per run: another replica is refused until the follower dies, then takes it', async () => {
    const a = await replica('i-a');
    const b = await replica('i-b');
    const id = runId();
    expect(await a.claim(id)).toBe(true);
    expect(await a.claim(id)).toBe(true); // its own
    expect(await b.claim(id)).toBe(false);
    alive.delete('i-a');
    expect(await b.claim(id)).toBe(true);
    // Back (same instance, e.g. resumed after a pause): it is not its run any more.
    alive.add('i-a');
    expect(await a.claim(id)).toBe(false);
  });

  it("two survivors racing for a dead follower's run: exactly one wins", async () => {
    const a = await replica('i-a2');
    const id = runId();
    await a.claim(id);
    alive.delete('i-a2');
    const racers = await Promise.all([replica('i-b2'), replica('i-c2'), replica('i-d2')]);
    const wins = await Promise.all(racers.map((r) => r.claim(id)));
    expect(wins.filter(Boolean)).toHaveLength(1);
  });

  it('release forgets the claim; garbage under a key is taken over like a dead follower', async () => {
    const a = await replica('i-a3');
    const b = await replica('i-b3');
    const id = runId();
    await a.claim(id);
    await a.release(id);
    expect(await b.claim(id)).toBe(true);
    const other = runId();
    const kv = await buses[0]!.kv(buckets.runFollowers);
    await kv.create(kvKeys.runFollower(other), { not: 'a follower' });
    expect(await b.claim(other)).toBe(true);
    expect(await a.claim(other)).toBe(false);
  });
});

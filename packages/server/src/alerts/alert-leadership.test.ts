import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InProcessBroker, InProcessBus } from '../bus/in-process-bus.js';
import type { LeaseRole } from '../replicas/leases.js';
import type { AlertEngine } from './alert-engine.js';
import { NoticeLedger } from './notice-ledger.js';
import { engineFor, FakeFleet, gpuSample, makeNode, metricsOf, startReceiver, TestClock, type Receiver } from './__tests__/alert-fixtures.js';

/**
 * Two replicas evaluate the same alerts (each sees the whole fleet); only the holder of the
 * `alerts` lease sends, and the ledger on the shared bus keeps a replica that takes the lease
 * over from paging again, or from forgetting the resolved message it owes.
 */

let clock: TestClock;
let fleet: FakeFleet;
let hook: Receiver;
let broker: InProcessBroker;
let leader: 'a' | 'b';
const cleanup: Array<() => Promise<unknown>> = [];
const quiet = { warn: () => undefined };

beforeEach(async () => {
  clock = new TestClock();
  fleet = new FakeFleet();
  fleet.add(makeNode('n1', { hostname: 'box' }));
  hook = await startReceiver();
  broker = new InProcessBroker();
  leader = 'a';
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  await hook.close();
});

async function replica(name: 'a' | 'b'): Promise<{ engine: AlertEngine; ledger: NoticeLedger }> {
  const bus = new InProcessBus({ broker });
  const lease: LeaseRole = {
    name: 'alerts',
    holds: () => leader === name,
    fence: () => (leader === name ? 1 : null),
    tenure: () => (leader === name ? 1 : null),
  };
  const ledger = new NoticeLedger({ bus, lease, log: quiet });
  await ledger.start();
  const rules = `
receivers:
  - {name: hook, type: webhook, url: "${hook.url}/hook"}
defaultReceivers: [hook]
rules:
  - {name: Hot, kind: metric, metric: gpu_temp_c, above: 85, for: 1m, severity: warning, summary: "hot {{gpu}}"}
`;
  const engine = engineFor(rules, fleet, clock, { leadership: ledger, notifier: { random: () => 0.5 } });
  cleanup.push(
    () => bus.close(),
    () => ledger.stop(),
    () => engine.stop(100),
  );
  return { engine, ledger };
}

function temp(gpu: number, value: number): void {
  const current = fleet.metrics.get('n1')?.gpus ?? [];
  const others = current.filter((g) => g.index !== gpu);
  fleet.metrics.set('n1', metricsOf(clock.now(), [...others, gpuSample('n1', gpu, { temperatureC: value })]));
}

function tickBoth(a: AlertEngine, b: AlertEngine): void {
  a.tick();
  b.tick();
}

async function settle(ms = 300): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

const statuses = () => hook.posts.map((p) => (p.body as { status: string; alerts: Array<{ labels: Record<string, string> }> }).status);

describe('alerts across replicas', () => {
  it('only the lease holder pages; a replica taking over neither pages again nor forgets the resolved message', async () => {
    const a = await replica('a');
    const b = await replica('b');
    temp(0, 90);
    tickBoth(a.engine, b.engine);
    clock.advance(61_000);
    temp(0, 91);
    tickBoth(a.engine, b.engine);
    await hook.waitFor(1);
    // Both see it fire; only A told anyone.
    expect([...b.engine.instances()].map((i) => i.state)).toEqual(['firing']);
    const id = [...a.engine.instances()][0]!.id;
    await waitUntil(() => b.ledger.toldOf(id).includes('hook'));

    // A dies: B holds the lease now and evaluates again.
    leader = 'b';
    clock.advance(5_000);
    temp(0, 92);
    b.engine.tick();
    await settle();
    expect(statuses()).toEqual(['firing']);

    // The GPU cools: B owes the resolved message A's page created.
    clock.advance(5_000);
    temp(0, 40);
    b.engine.tick();
    await hook.waitFor(2);
    expect(statuses()).toEqual(['firing', 'resolved']);
    await waitUntil(() => a.ledger.toldOf(id).length === 0);
  });

  it('an alert pending when the holder dies fires once, from the replica that took over', async () => {
    const a = await replica('a');
    const b = await replica('b');
    temp(1, 95);
    tickBoth(a.engine, b.engine);
    clock.advance(30_000);
    leader = 'b'; // A is SIGKILLed halfway through the `for`.
    clock.advance(31_000);
    temp(1, 96);
    b.engine.tick();
    await hook.waitFor(1);
    clock.advance(5_000);
    temp(1, 97);
    b.engine.tick();
    await settle();
    expect(statuses()).toEqual(['firing']);
  });

  it('a follower evaluates but never sends, whatever fires or resolves', async () => {
    const a = await replica('a');
    leader = 'b'; // the other replica, not built here, holds the lease
    temp(2, 99);
    a.engine.tick();
    clock.advance(61_000);
    temp(2, 99);
    a.engine.tick();
    clock.advance(61_000);
    temp(2, 20);
    a.engine.tick();
    await settle();
    expect(hook.posts).toEqual([]);
    expect([...a.engine.instances()].map((i) => i.state)).toEqual(['resolved']);
  });
});

async function waitUntil(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

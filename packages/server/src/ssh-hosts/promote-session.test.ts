import { afterEach, describe, expect, it } from 'vitest';
import { type Backend, BACKENDS, eventually, FakeClock, openBackend, recordingLog } from '../replicas/__tests__/replica-test-kit.js';
import { ReplicaDirectory } from '../replicas/replica-directory.js';
import { SessionOwners } from '../replicas/session-owners.js';
import { sessionUpAnywhere } from './promote.js';

const NODE = 'did:key:z6MkPromotedNode';

/*
 * `nodes promote` waits for the promoted node's agent session (issue 13): the agent joins through
 * the promoting replica's URL, then connects to whichever replica its node id puts first, so a
 * session on another live replica completes the promote as well as one held here.
 */
describe.each(BACKENDS)('sessionUpAnywhere over the %s bus', (kind) => {
  let backend: Backend;
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
    await backend.cleanup();
  });

  async function replica(name: string) {
    const bus = await backend.open();
    const clock = new FakeClock();
    const log = recordingLog();
    const directory = new ReplicaDirectory({
      bus,
      name,
      instance: `${name}-1`,
      clock,
      beatMs: 100,
      url: () => '',
      agents: () => 0,
      leases: () => [],
      version: 'test',
      log,
    });
    await directory.start();
    const owners = new SessionOwners({ bus, replica: name, instance: `${name}-1`, directory, clock, graceMs: 0, onChange: () => undefined, log });
    await owners.start();
    stops.push(() => directory.stop());
    stops.push(() => owners.stop());
    return { directory, owners, sessions: new Set<string>() };
  }

  it('is up when the session is held here or on another live replica, and not once that replica is gone', async () => {
    backend = await openBackend(kind);
    const a = await replica('cp-a');
    const b = await replica('cp-b');
    await eventually(() => a.directory.isAlive('cp-b', 'cp-b-1'));
    const upOnA = sessionUpAnywhere({ hasSession: (id) => a.sessions.has(id) }, a.owners);
    expect(upOnA(NODE)).toBe(false);

    // The agent connected to cp-b: cp-a's promote sees it.
    b.sessions.add(NODE);
    b.owners.claim(NODE);
    await eventually(() => upOnA(NODE));
    expect(upOnA('did:key:z6MkSomeoneElse')).toBe(false);

    // cp-b leaves (its entry goes): its claim no longer counts.
    await b.owners.stop();
    await b.directory.stop();
    await eventually(() => !a.directory.isAlive('cp-b', 'cp-b-1'));
    expect(upOnA(NODE)).toBe(false);

    // Held here counts without any claim read back.
    a.sessions.add(NODE);
    expect(upOnA(NODE)).toBe(true);
  });
});

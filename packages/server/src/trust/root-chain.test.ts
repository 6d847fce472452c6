import { EventHub } from '../events/event-hub.js';
import { afterEach, describe, expect, it } from 'vitest';
import { generateEd25519, signRootsUpdate, type RootsUpdate } from '@gpufleet/protocol';
import type { RootsVersionRecord } from '../store/store.js';
import { startTrustKit, type TrustKit } from './__tests__/trust-kit.js';
import { createTrust } from './index.js';
import { rootChainProblem } from './root-chain.js';

const NO_MASTER_KEY = { current: null, previous: null };

const root = generateEd25519();
const root2 = generateEd25519();
const thief = generateEd25519();
const AT = Date.UTC(2026, 0, 1);

function update(version: number, roots: string[], by = root): RootsUpdate {
  return signRootsUpdate({ v: 1, version, roots, iss: by.did, at: AT }, by.privateKeyPem);
}

function v(version: number, roots: string[], upd: RootsUpdate | null): RootsVersionRecord {
  return { version, roots, update: upd, actor: 'test', at: AT };
}

describe('rootChainProblem', () => {
  it('accepts an empty history and an intact chain', () => {
    expect(rootChainProblem([])).toBeNull();
    expect(
      rootChainProblem([
        v(1, [root.did], null),
        v(2, [root.did, root2.did], update(2, [root.did, root2.did])),
        v(3, [root2.did], update(3, [root2.did], root2)),
      ]),
    ).toBeNull();
  });

  it.each([
    [
      'an update signed by a key that is not a root',
      [v(1, [root.did], null), v(2, [thief.did], update(2, [thief.did], thief))],
      /not one of the current fleet roots/,
    ],
    ['stored roots other than the signed update names', [v(1, [root.did], null), v(2, [root.did, thief.did], update(2, [root.did]))], /other roots/],
    ['a version without a signed update', [v(1, [root.did], null), v(2, [thief.did], null)], /no signed update/],
    ['a gap', [v(1, [root.did], null), v(3, [root.did], update(3, [root.did]))], /missing/],
    [
      'an update replayed at another version',
      [v(1, [root.did], null), v(2, [root.did], update(2, [root.did])), v(3, [root.did], update(2, [root.did]))],
      /not newer|signed for version/,
    ],
    ['a history not starting at 1', [v(2, [root.did], null)], /starts at version 2/],
    ['version 1 with an update', [v(1, [root.did], update(1, [root.did]))], /roots init/],
    ['garbage roots', [v(1, ['nope'], null)], /did:key/],
    ['a tampered signature', [v(1, [root.did], null), v(2, [root2.did], { ...update(2, [root2.did]), at: AT + 1 })], /valid signature/],
  ] as const)('refuses %s', (_name, versions, why) => {
    expect(rootChainProblem(versions as readonly RootsVersionRecord[])).toMatch(why);
  });
});

describe('FleetRoots on load', () => {
  let kit: TrustKit | undefined;
  afterEach(async () => {
    await kit?.close();
    kit = undefined;
  });

  it('refuses to serve a tampered root chain in the store, loudly, and serves an intact one', async () => {
    kit = await startTrustKit();
    expect((await kit.call('POST', '/api/v1/roots/init', kit.admin, { did: root.did })).status).toBe(201);
    expect((await kit.call('POST', '/api/v1/roots/update', kit.admin, { update: update(2, [root.did, root2.did]) })).status).toBe(201);

    // Intact: a fresh load (a restart) serves it.
    const log = {
      warn: () => undefined,
      info: () => undefined,
      errors: [] as string[],
      error(_o: object, msg: string) {
        this.errors.push(msg);
      },
    };
    const fresh = await createTrust({ store: kit.store, clock: kit.clock, hub: new EventHub(), dataDir: kit.dataDir, keys: NO_MASTER_KEY, log });
    expect(fresh.currentRoots()).toEqual([root.did, root2.did]);
    expect(log.errors).toEqual([]);

    // Someone with the database but no root key writes version 3 naming their own key.
    await kit.store.insertRootsVersion({ version: 3, roots: [thief.did], update: update(3, [thief.did], thief), actor: 'intruder', at: AT });
    const restarted = await createTrust({ store: kit.store, clock: kit.clock, hub: new EventHub(), dataDir: kit.dataDir, keys: NO_MASTER_KEY, log });
    expect(restarted.roots.brokenChain()).toMatch(/version 3/);
    expect(log.errors.join('\n')).toMatch(/REFUSING the fleet roots/);
    // Nothing hands out the thief's root: not join tokens, not the roots view, not trust frames.
    expect(() => restarted.currentRoots()).toThrow(/signature chain is broken/);
    expect(() => restarted.roots.view()).toThrow(/signature chain is broken/);
    expect(restarted.distribution.trustFrameFor('n').body.roots).toEqual([]);
    await expect(restarted.roots.update(update(4, [root.did], root), kit.audit.as('admin'))).rejects.toThrow(/signature chain is broken/);

    // The running app reloads on GET and refuses too, as a 4xx with the reason.
    const res = await kit.call('GET', '/api/v1/roots', kit.viewer);
    expect(res.status).toBe(412);
    expect(res.body.error).toMatchObject({ code: 'failed_precondition' });
    expect(res.body.error.message).toMatch(/version 3/);
  });
});

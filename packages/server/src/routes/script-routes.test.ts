import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilityId, generateEd25519, scriptSha256, signRevocation, signScript, type Ed25519KeyPair } from '@gpufleet/protocol';
import { expectError, grant, startTrustKit, type TrustKit } from '../trust/__tests__/trust-kit.js';

/** The signed script library over real routes and SQLite: versions, signature checks, removal, lookup. */

let kit: TrustKit;
const root = generateEd25519();
const holder = generateEd25519();
const runner = generateEd25519();
const stranger = generateEd25519();

const V1 = '#!/bin/sh\nnvidia-smi -q\n';
const V2 = '#!/bin/sh\nnvidia-smi -q -d ECC\n';

function body(name: string, content: string, version: number, key: Ed25519KeyPair) {
  return { name, content, signature: signScript(name, version, scriptSha256(content), key.privateKeyPem) };
}

beforeAll(async () => {
  kit = await startTrustKit();
  await kit.call('POST', '/api/v1/roots/init', kit.admin, { did: root.did });
  // holder may publish scripts; runner may only run commands.
  await kit.call('POST', '/api/v1/capabilities', kit.operator, {
    capability: grant(root, holder, { can: ['exec/script'], on: 'pool=a', now: kit.clock.now() }),
  });
  await kit.call('POST', '/api/v1/capabilities', kit.operator, { capability: grant(root, runner, { can: ['exec/run'], now: kit.clock.now() }) });
});
afterAll(() => kit.close());

describe('script library', () => {
  it('adds version 1 signed by a root, then version 2 by a holder of exec/script, keeping history', async () => {
    const one = await kit.call('POST', '/api/v1/scripts', kit.operator, body('gpu-check', V1, 1, root));
    expect(one.status).toBe(201);
    expect(one.body).toMatchObject({ name: 'gpu-check', version: 1, sha256: scriptSha256(V1), signer: root.did, removed: false, content: V1 });
    const two = await kit.call('POST', '/api/v1/scripts', kit.operator, body('gpu-check', V2, 2, holder));
    expect(two.status).toBe(201);
    expect(two.body.history.map((h: any) => [h.version, h.signer])).toEqual([
      [1, root.did],
      [2, holder.did],
    ]);

    const latest = await kit.call('GET', '/api/v1/scripts/gpu-check', kit.viewer);
    expect(latest.body).toMatchObject({ version: 2, content: V2, sha256: scriptSha256(V2), signature: { name: 'gpu-check', version: 2, signer: holder.did } });
    const first = await kit.call('GET', '/api/v1/scripts/gpu-check?version=1', kit.viewer);
    expect(first.body).toMatchObject({ version: 1, content: V1, signer: root.did });
    expect((await kit.call('GET', '/api/v1/scripts', kit.viewer)).body.items.map((s: any) => [s.name, s.version])).toEqual([['gpu-check', 2]]);

    const audit = (await kit.store.listAudit({ action: 'script.add' })).reverse();
    expect(audit.map((a) => [a.target, (a.details as any).signer, (a.details as any).authority])).toEqual([
      ['gpu-check@1', root.did, 'root'],
      ['gpu-check@2', holder.did, 'capability'],
    ]);
    expect((audit[1]!.details as any).chain).toHaveLength(1);
  });

  it('gives the runs service content and signature of a live version only', async () => {
    const got = await kit.scripts.lookup('gpu-check', 1);
    expect(got).toEqual({ content: V1, signature: expect.objectContaining({ name: 'gpu-check', version: 1, sha256: scriptSha256(V1), signer: root.did }) });
    expect(await kit.scripts.lookup('gpu-check', 9)).toBeNull();
    expect(await kit.scripts.lookup('no-such', 1)).toBeNull();
    expect(await kit.scripts.lookup('../etc', 1)).toBeNull();
    expect(await kit.scripts.lookup('gpu-check', -1)).toBeNull();
  });

  it('refuses unknown signers, forged signatures, wrong versions and content that does not match', async () => {
    const post = (b: unknown, token = kit.operator) => kit.call('POST', '/api/v1/scripts', token, b);
    expectError(
      await post(body('gpu-check', V1, 3, stranger)),
      403,
      'permission_denied',
      /neither a fleet root nor holds a registered capability granting exec\/script/,
    );
    expectError(await post(body('gpu-check', V1, 3, runner)), 403, 'permission_denied', /neither a fleet root/);
    const forged = body('gpu-check', V1, 3, root);
    forged.signature.signer = holder.did;
    expectError(await post(forged), 403, 'permission_denied', /does not verify/);
    expectError(await post(body('gpu-check', V1, 2, root)), 409, 'conflict', /version 2, but the next version of 'gpu-check' is 3/);
    const swapped = { ...body('gpu-check', V1, 3, root), content: 'rm -rf /' };
    expectError(await post(swapped), 400, 'invalid_argument', /this content hashes to/);
    expectError(await post({ ...body('other', V1, 1, root), name: 'renamed' }), 400, 'invalid_argument', /covers script 'other', not 'renamed'/);
    expectError(await post(body('gpu-check', V1, 3, root), kit.viewer), 403, 'permission_denied', /operator role/);
    expect((await kit.call('GET', '/api/v1/scripts/gpu-check', kit.viewer)).body.version).toBe(2);
    // One record per request; the viewer's 403 comes before the route names its action.
    const refused = (await kit.store.listAudit({ action: 'script.add' })).filter((a) => a.result === 'error').reverse();
    expect(refused.map((a) => [(a.details as any).reason ?? (a.details as any).status, (a.details as any).signer ?? a.target])).toEqual([
      ['unknown_issuer', stranger.did],
      ['unknown_issuer', runner.did],
      ['bad_signature', holder.did],
      ['wrong_version', root.did],
      [400, 'gpu-check'],
      [400, 'renamed'],
    ]);
  });

  it('refuses a signer whose capability was revoked', async () => {
    const cap = (await kit.call('GET', `/api/v1/capabilities?aud=${holder.did}`, kit.viewer)).body.items[0];
    const rev = signRevocation({ v: 1, target: { capability: cap.id }, iss: root.did, at: kit.clock.now(), reason: 'rotated' }, root.privateKeyPem);
    expect((await kit.call('POST', '/api/v1/revocations', kit.operator, { revocation: rev })).status).toBe(201);
    expect(cap.id).toBe(capabilityId(cap.capability));
    expectError(await kit.call('POST', '/api/v1/scripts', kit.operator, body('gpu-check', V1, 3, holder)), 403, 'permission_denied', /neither a fleet root/);
  });

  it('refuses garbage with a 4xx naming the problem', async () => {
    const post = (b: unknown) => kit.call('POST', '/api/v1/scripts', kit.operator, b);
    expectError(await post({ name: 'a b', content: 'x', signature: body('x', 'x', 1, root).signature }), 400, 'invalid_argument', /name/);
    expectError(await post({ name: 'x', content: '', signature: body('x', 'x', 1, root).signature }), 400, 'invalid_argument', /content/);
    expectError(await post({ name: 'x', content: 'x' }), 400, 'invalid_argument', /signature/);
    expectError(await post({ name: 'x', content: 'x', signature: { ...body('x', 'x', 1, root).signature, version: 0 } }), 400, 'invalid_argument', /version/);
    expectError(await post('[1,2'), 400, 'invalid_argument', /not valid JSON/);
    expectError(await kit.call('GET', '/api/v1/scripts/..%2Fetc', kit.viewer), 400, 'invalid_argument', /name/);
    expectError(await kit.call('GET', '/api/v1/scripts/gpu-check?version=zero', kit.viewer), 400, 'invalid_argument', /version/);
    expectError(await kit.call('GET', '/api/v1/scripts/gpu-check?version=7', kit.viewer), 404, 'not_found', /has no version 7/);
    expectError(await kit.call('GET', '/api/v1/scripts/missing', kit.viewer), 404, 'not_found', /no script named 'missing'/);
  });

  it('refuses a script that would not fit in the command frame an agent accepts', async () => {
    // Under the REST body limit, but with the signed command beside it the frame would pass 1 MiB.
    const big = `#!/bin/sh\n${'#'.repeat(990_000)}\n`;
    expectError(
      await kit.call('POST', '/api/v1/scripts', kit.operator, body('big', big, 1, root)),
      400,
      'invalid_argument',
      /is 990,\d{3} bytes as it travels to hosts .* over the 983,040 that fit in a command frame/,
    );
    expectError(await kit.call('GET', '/api/v1/scripts/big', kit.viewer), 404, 'not_found', /no script named 'big'/);
  });

  it('removes a script: history stays, lookups stop, a new version continues the numbering', async () => {
    expectError(await kit.call('DELETE', '/api/v1/scripts/missing', kit.operator), 404, 'not_found', /no script named/);
    expectError(await kit.call('DELETE', '/api/v1/scripts/gpu-check', kit.viewer), 403, 'permission_denied', /operator role/);
    const rm = await kit.call('DELETE', '/api/v1/scripts/gpu-check', kit.operator);
    expect(rm.status).toBe(200);
    expect(rm.body).toMatchObject({ name: 'gpu-check', version: 2, removed: true });
    expectError(await kit.call('DELETE', '/api/v1/scripts/gpu-check', kit.operator), 409, 'conflict', /already removed/);
    expect(await kit.scripts.lookup('gpu-check', 1)).toBeNull();
    const shown = await kit.call('GET', '/api/v1/scripts/gpu-check?version=1', kit.viewer);
    expect(shown.body).toMatchObject({ version: 1, removed: true, content: V1 });
    expect((await kit.call('GET', '/api/v1/scripts', kit.viewer)).body.items[0]).toMatchObject({ name: 'gpu-check', removed: true });

    const three = await kit.call('POST', '/api/v1/scripts', kit.operator, body('gpu-check', V1, 3, root));
    expect(three.status).toBe(201);
    expect(three.body.history.map((h: any) => [h.version, h.removed])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    expect(await kit.scripts.lookup('gpu-check', 3)).toMatchObject({ content: V1 });
    const removal = await kit.store.listAudit({ action: 'script.remove' });
    expect(removal.reverse().map((a) => [a.target, a.result, (a.details as any).versions ?? (a.details as any).status])).toEqual([
      ['missing', 'error', 404],
      ['gpu-check', 'ok', 2],
      ['gpu-check', 'error', 409],
    ]);
  });
});

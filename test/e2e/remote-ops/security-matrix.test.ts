import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandSigningInput, generateEd25519, scriptSha256, signCommand, signRevocation, signScript, type SignedCommand } from '@gpufleet/protocol';
import { Cleanups } from '../support/cleanups.js';
import { E2eHost } from '../support/e2e-host.js';
import { sleep, waitFor } from '../support/wait-for.js';
import {
  flipSignature,
  grant,
  markerArgv,
  payloadFor,
  ran,
  reasonCode,
  signed,
  startRootedServer,
  submitRun,
  targetOf,
  waitRunFinal,
  markerDir,
  type RootedServer,
} from './support.js';

/**
 * The security matrix of issue 4 end to end: a real server whose fleet root is an operator key,
 * real agents (FileStateStore, real `sh -c`) over real WebSockets. Every case submits through
 * the REST API a command that appends to its own marker file; the host must refuse it with that
 * case's reason and the marker must stay absent. The server relays anything well-formed: the
 * decisive checks are the host's.
 */

const HOST_A = 'rops-sec-a';
const HOST_B = 'rops-sec-b';
const cleanups = new Cleanups();
let s: RootedServer;
let markers: string;
let n = 0;
const marker = (what: string) => join(markers, `${++n}-${what}`);
/** A delegate holding a root-issued exec/run capability on every host. */
const delegate = generateEd25519();

beforeAll(async () => {
  s = await startRootedServer(cleanups);
  markers = markerDir(cleanups);
  for (const hostname of [HOST_A, HOST_B]) {
    const host = new E2eHost({ token: s.joinToken, hostname, gpuCount: 1 });
    cleanups.add(`host ${hostname}`, () => host.dispose());
    await host.join();
    await host.start();
  }
  await waitFor('both hosts connected', async () => {
    const r = await s.t.api('GET', '/api/v1/nodes');
    const items = (r.body?.items ?? []) as Array<{ hostname: string; connected: boolean }>;
    return items.filter((x) => x.connected).length === 2;
  });
});
afterAll(() => cleanups.run());

/** Submits `cmd` aimed at HOST_A and returns its final target there. */
async function runOnA(cmd: SignedCommand) {
  const runId = await submitRun(s.t, cmd);
  return targetOf(await waitRunFinal(s.t, runId), HOST_A);
}

/** Asserts the host refused with `reason` and nothing ran. */
async function expectRefused(cmd: SignedCommand, path: string, reason: string): Promise<void> {
  const target = await runOnA(cmd);
  expect(target.state, target.reason ?? '').toBe('refused');
  expect(reasonCode(target), target.reason ?? '').toBe(reason);
  expect(ran(path)).toBe(false);
}

const onA = { target: `hostname=${HOST_A}` };

describe('e2e security matrix: the host refuses, nothing runs', () => {
  it('positive control: a root-signed command and a delegate with a root capability both run', async () => {
    const m1 = marker('root');
    const target = await runOnA(signed(s.root, { ...onA, marker: m1 }));
    expect(target.state, target.reason ?? '').toBe('succeeded');
    expect(target.exitCode).toBe(0);
    expect(readFileSync(m1, 'utf8')).toBe('x\n');

    const m2 = marker('delegate');
    const viaCap = await runOnA(signed(delegate, { ...onA, marker: m2, capability: grant(s.root, delegate.did) }));
    expect(viaCap.state, viaCap.reason ?? '').toBe('succeeded');
    expect(readFileSync(m2, 'utf8')).toBe('x\n');
  });

  it('forged signature: bad_signature', async () => {
    const m = marker('forged');
    const good = signed(s.root, { ...onA, marker: m });
    await expectRefused({ ...good, sig: flipSignature(good.sig) }, m, 'bad_signature');
  });

  it('signature by an unknown key (no capability): unknown_issuer', async () => {
    const m = marker('stranger');
    await expectRefused(signed(generateEd25519(), { ...onA, marker: m }), m, 'unknown_issuer');
  });

  it('capability issued by an unknown key: unknown_issuer', async () => {
    const m = marker('stranger-cap');
    const stranger = generateEd25519();
    await expectRefused(signed(delegate, { ...onA, marker: m, capability: grant(stranger, delegate.did) }), m, 'unknown_issuer');
  });

  it('expired capability: expired', async () => {
    const m = marker('expired');
    const now = Date.now();
    const cap = grant(s.root, delegate.did, { nbf: now - 7_200_000, exp: now - 600_000 });
    await expectRefused(signed(delegate, { ...onA, marker: m, capability: cap }), m, 'expired');
  });

  it('not-yet-valid capability: not_yet_valid', async () => {
    const m = marker('future');
    const now = Date.now();
    const cap = grant(s.root, delegate.did, { nbf: now + 600_000, exp: now + 3_600_000 });
    await expectRefused(signed(delegate, { ...onA, marker: m, capability: cap }), m, 'not_yet_valid');
  });

  it('child capability broader than its parent: not_attenuated', async () => {
    const m = marker('broader');
    const holder = generateEd25519();
    const parent = grant(s.root, delegate.did, { on: `hostname=${HOST_B}` });
    const child = grant(delegate, holder.did, { on: '*', prf: [parent] });
    await expectRefused(signed(holder, { ...onA, marker: m, capability: child }), m, 'not_attenuated');
  });

  it('capability whose selector does not match this host: selector_mismatch', async () => {
    const m = marker('selector');
    const cap = grant(s.root, delegate.did, { on: `hostname=${HOST_B}` });
    await expectRefused(signed(delegate, { ...onA, marker: m, capability: cap }), m, 'selector_mismatch');
  });

  it('ability not granted by the capability: ability_not_granted', async () => {
    const m = marker('ability');
    const cap = grant(s.root, delegate.did, { can: ['container/logs'] });
    await expectRefused(signed(delegate, { ...onA, marker: m, capability: cap }), m, 'ability_not_granted');
  });

  it('replayed nonce: the server refuses a re-submitted run id; the host refuses a new run reusing the nonce (replayed_nonce)', async () => {
    const first = marker('replay-first');
    const original = signed(s.root, { ...onA, marker: first });
    expect((await runOnA(original)).state).toBe('succeeded');
    expect(ran(first)).toBe(true);

    // The identical signed command again: the run id inside the signature is taken.
    const again = await s.t.api('POST', '/api/v1/runs', { command: original });
    expect(again.status, again.text).toBe(409);
    expect(again.body.error.code).toBe('already_exists');

    // A properly signed new run that reuses the nonce: only the host can tell.
    const m = marker('replay');
    const replay = signCommand({ ...payloadFor(s.root.did, { ...onA, marker: m }), nonce: original.payload.nonce }, s.root.privateKeyPem);
    await expectRefused(replay, m, 'replayed_nonce');
  });

  it('argv changed after signing: bad_signature', async () => {
    const m = marker('argv');
    const good = signed(s.root, { ...onA, marker: marker('argv-original-never-run') });
    const changed: SignedCommand = { ...good, payload: { ...good.payload, command: { kind: 'argv', argv: markerArgv(m) } } };
    await expectRefused(changed, m, 'bad_signature');
  });

  it('revoked key: a root-signed revocation reaches the host in a trust frame; the delegate is refused (revoked)', async () => {
    const revokedKey = generateEd25519();
    const cap = grant(s.root, revokedKey.did);
    const before = marker('before-revocation');
    expect((await runOnA(signed(revokedKey, { ...onA, marker: before, capability: cap }))).state).toBe('succeeded');

    const revocation = signRevocation(
      { v: 1, target: { did: revokedKey.did }, iss: s.root.did, at: Date.now(), reason: 'e2e: key lost' },
      s.root.privateKeyPem,
    );
    const res = await s.t.api('POST', '/api/v1/revocations', { revocation });
    expect(res.status, res.text).toBe(201);
    // Trust frames and command frames share the host's session, in order; a short pause keeps
    // the test from depending on whether the server's broadcast is synchronous.
    await sleep(200);

    const m = marker('revoked');
    await expectRefused(signed(revokedKey, { ...onA, marker: m, capability: cap }), m, 'revoked');
  });

  it('tampered script: the library holds other content than the command was signed for (script_tampered)', async () => {
    const m = marker('script');
    const vetted = `echo x >> '${m}'\n`;
    // What the library (a compromised store) delivers instead: it would also touch the marker.
    const delivered = `echo x >> '${m}'\necho tampered\n`;
    const signature = signScript('rops-tampered', 1, scriptSha256(delivered), s.root.privateKeyPem);
    const added = await s.t.api('POST', '/api/v1/scripts', { name: 'rops-tampered', content: delivered, signature });
    expect(added.status, added.text).toBe(201);
    const cmd = signed(s.root, {
      ...onA,
      ability: 'exec/script',
      command: { kind: 'script', name: 'rops-tampered', version: 1, sha256: scriptSha256(vetted), args: [] },
    });
    await expectRefused(cmd, m, 'script_tampered');
  });

  it('command injected by the server with its own key and no delegated capability: unknown_issuer', async () => {
    const m = marker('server');
    const signer = s.t.server.context.trust.serverSigner();
    const payload = payloadFor(signer.did, { ...onA, marker: m });
    const injected: SignedCommand = { payload, sig: signer.sign(commandSigningInput(payload)) };
    // Straight into the runs service, as a compromised control plane would, past REST and roles.
    const submitted = await s.t.server.context.runs.submit({ command: injected }, 'server-itself');
    const target = targetOf(await waitRunFinal(s.t, submitted.id), HOST_A);
    expect(target.state).toBe('refused');
    expect(reasonCode(target), target.reason ?? '').toBe('unknown_issuer');
    expect(ran(m)).toBe(false);
  });

  it('viewer token: 403 and no run is created', async () => {
    const created = await s.t.api('POST', '/api/v1/api-tokens', { name: 'rops-viewer', role: 'viewer' });
    expect(created.status, created.text).toBe(201);
    const m = marker('viewer');
    const cmd = signed(s.root, { ...onA, marker: m });
    const res = await s.t.api('POST', '/api/v1/runs', { command: cmd }, created.body.token);
    expect(res.status, res.text).toBe(403);
    expect((await s.t.api('GET', `/api/v1/runs/${cmd.payload.runId}`)).status).toBe(404);
    const listed = await s.t.api('GET', '/api/v1/runs?limit=200');
    expect(listed.body.items.map((r: { id: string }) => r.id)).not.toContain(cmd.payload.runId);
    // Give a (wrongly) dispatched command time to land before checking the host ran nothing.
    await sleep(300);
    expect(ran(m)).toBe(false);
  });
});

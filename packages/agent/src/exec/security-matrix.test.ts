import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateEd25519,
  scriptSha256,
  signEd25519,
  signRevocation,
  signRootsUpdate,
  signScript,
  canonicalJson,
  type RefusalReason,
  type SignedCommand,
} from '@gpufleet/protocol';
import { FakeControlPlane } from '../testing/fake-control-plane.js';
import { capabilityFor, deliver, runEvents, signedCommand, startExecAgent, waitForRunEvent, type ExecAgent } from '../testing/exec-harness.js';

/**
 * The host's decisive checks: each case delivers a command that must not run, asserts that the
 * marker file it would create stays absent and that the refusal carries its own reason.
 */

const HOUR = 3_600_000;
const root = generateEd25519();
const operator = generateEd25519();
const stranger = generateEd25519();
const serverKey = generateEd25519();

let cp: FakeControlPlane;
let host: ExecAgent;
let dir: string;
let n = 0;

beforeAll(async () => {
  cp = new FakeControlPlane({ heartbeatMs: 1000 });
  await cp.start();
  // This host: stub-host, debian, x86_64, 2 x NVIDIA H100 (gpu.model=H100), joined with region=eu; non-root for run-as.
  host = await startExecAgent(cp, { roots: [root.did], labels: { region: 'eu' }, exec: { self: { uid: 1000, username: 'gpufleet', home: '/tmp' } } });
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-matrix-'));
});

afterAll(async () => {
  await host?.agent.stop();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh marker path and a shell command that would create it. */
function markerCommand(): { marker: string; script: string } {
  const marker = join(dir, `marker-${++n}`);
  return { marker, script: `touch ${marker}` };
}

/** Delivers, waits for the refusal, proves nothing ran (a later command completes first), returns the reason. */
async function refused(
  cmd: SignedCommand | Record<string, unknown>,
  marker: string,
  script: { content?: string | null; signature?: unknown } = {},
): Promise<{ reason: RefusalReason; message: string }> {
  const runId = (cmd as SignedCommand).payload.runId;
  deliver(cp, host.identity.did, cmd as SignedCommand, script);
  const ev = await waitForRunEvent(cp, host.node, runId, 'run-refused');
  // A command accepted by mistake would have started before this later one finished.
  const sentinel = signedCommand(root, { command: { kind: 'argv', argv: ['true'] } });
  deliver(cp, host.identity.did, sentinel);
  await waitForRunEvent(cp, host.node, sentinel.payload.runId, 'run-result');
  await new Promise((r) => setTimeout(r, 100));
  expect(existsSync(marker)).toBe(false);
  expect(runEvents(host.node, runId).map((e) => e.body.kind)).toEqual(['run-refused']);
  return ev.data as { reason: RefusalReason; message: string };
}

describe('security matrix: the host refuses and runs nothing', () => {
  it('control: a properly signed command by a root runs (the marker appears)', async () => {
    const { marker, script } = markerCommand();
    const cmd = signedCommand(root, { command: { kind: 'shell', script } });
    deliver(cp, host.identity.did, cmd);
    await waitForRunEvent(cp, host.node, cmd.payload.runId, 'run-result');
    expect(existsSync(marker)).toBe(true);
  });

  it('control: a command by an operator holding a matching capability runs', async () => {
    const { marker, script } = markerCommand();
    const cap = capabilityFor(root, operator.did, { can: ['exec/run'], on: 'region=eu' });
    const cmd = signedCommand(operator, { command: { kind: 'shell', script }, capability: cap, target: 'gpu.model=H100' });
    deliver(cp, host.identity.did, cmd);
    await waitForRunEvent(cp, host.node, cmd.payload.runId, 'run-result');
    expect(existsSync(marker)).toBe(true);
  });

  it('forged signature', async () => {
    const { marker, script } = markerCommand();
    const cmd = signedCommand(root, { command: { kind: 'shell', script } });
    // Signed over the right bytes, but with another key than the claimed invoker's.
    const forged = { ...cmd, sig: signEd25519(stranger.privateKeyPem, canonicalJson(cmd.payload)) };
    expect((await refused(forged, marker)).reason).toBe('bad_signature');
  });

  it('signature by an unknown key', async () => {
    const { marker, script } = markerCommand();
    const r = await refused(signedCommand(stranger, { command: { kind: 'shell', script } }), marker);
    expect(r.reason).toBe('unknown_issuer');
  });

  it('expired capability', async () => {
    const { marker, script } = markerCommand();
    const cap = capabilityFor(root, operator.did, { nbf: Date.now() - 3 * HOUR, exp: Date.now() - 2 * HOUR });
    const r = await refused(signedCommand(operator, { command: { kind: 'shell', script }, capability: cap }), marker);
    expect(r.reason).toBe('expired');
  });

  it('capability not yet valid', async () => {
    const { marker, script } = markerCommand();
    const cap = capabilityFor(root, operator.did, { nbf: Date.now() + HOUR, exp: Date.now() + 2 * HOUR });
    const r = await refused(signedCommand(operator, { command: { kind: 'shell', script }, capability: cap }), marker);
    expect(r.reason).toBe('not_yet_valid');
  });

  it('child capability broader than its parent', async () => {
    const { marker, script } = markerCommand();
    const parent = capabilityFor(root, operator.did, { can: ['exec/run'], on: 'region=us' });
    const child = capabilityFor(operator, stranger.did, { can: ['exec/run'], on: '*', prf: [parent] });
    const r = await refused(signedCommand(stranger, { command: { kind: 'shell', script }, capability: child }), marker);
    expect(r.reason).toBe('not_attenuated');
  });

  it('replayed nonce', async () => {
    const first = markerCommand();
    const cmd = signedCommand(root, { command: { kind: 'shell', script: first.script } });
    deliver(cp, host.identity.did, cmd);
    await waitForRunEvent(cp, host.node, cmd.payload.runId, 'run-result');
    expect(existsSync(first.marker)).toBe(true);
    const { marker, script } = markerCommand();
    // A new run id and command, re-using the nonce of one that already ran.
    const replay = signedCommand(root, { command: { kind: 'shell', script }, nonce: cmd.payload.nonce });
    expect((await refused(replay, marker)).reason).toBe('replayed_nonce');
  });

  it("command target that does not match this host's own labels", async () => {
    const { marker, script } = markerCommand();
    const r = await refused(signedCommand(root, { command: { kind: 'shell', script }, target: 'gpu.model=A100' }), marker);
    expect(r.reason).toBe('selector_mismatch');
  });

  it("capability selector that does not match this host's own labels", async () => {
    const { marker, script } = markerCommand();
    const cap = capabilityFor(root, operator.did, { on: 'region=us' });
    const r = await refused(signedCommand(operator, { command: { kind: 'shell', script }, capability: cap }), marker);
    expect(r.reason).toBe('selector_mismatch');
  });

  it('ability not granted', async () => {
    const { marker, script } = markerCommand();
    const cap = capabilityFor(root, operator.did, { can: ['container/logs'] });
    const r = await refused(signedCommand(operator, { command: { kind: 'shell', script }, capability: cap }), marker);
    expect(r.reason).toBe('ability_not_granted');
  });

  it('argv changed after signing', async () => {
    const { marker, script } = markerCommand();
    const cmd = signedCommand(root, { command: { kind: 'argv', argv: ['echo', 'harmless'] } });
    const tampered = { ...cmd, payload: { ...cmd.payload, command: { kind: 'argv' as const, argv: ['sh', '-c', script] } } };
    expect((await refused(tampered, marker)).reason).toBe('bad_signature');
  });

  it('a command injected by the server itself: signed by the server key, or re-targeted after signing', async () => {
    const a = markerCommand();
    expect((await refused(signedCommand(serverKey, { command: { kind: 'shell', script: a.script } }), a.marker)).reason).toBe('unknown_issuer');
    const b = markerCommand();
    const cmd = signedCommand(root, { command: { kind: 'shell', script: 'true' }, target: 'region=us' });
    const widened = { ...cmd, payload: { ...cmd.payload, target: '*', command: { kind: 'shell' as const, script: b.script } } };
    expect((await refused(widened, b.marker)).reason).toBe('bad_signature');
  });

  it('tampered script', async () => {
    const { marker, script } = markerCommand();
    const content = '#!/bin/sh\necho fine\n';
    const sha256 = scriptSha256(content);
    const cmd = signedCommand(root, { command: { kind: 'script', name: 'fine', version: 1, sha256, args: [] } });
    const r = await refused(cmd, marker, { content: `#!/bin/sh\n${script}\n`, signature: signScript('fine', 1, sha256, root.privateKeyPem) });
    expect(r.reason).toBe('script_tampered');
  });

  it('script signed by nobody the host trusts', async () => {
    const { marker, script } = markerCommand();
    const content = `#!/bin/sh\n${script}\n`;
    const sha256 = scriptSha256(content);
    const cmd = signedCommand(root, { command: { kind: 'script', name: 'x', version: 1, sha256, args: [] } });
    const r = await refused(cmd, marker, { content, signature: signScript('x', 1, sha256, stranger.privateKeyPem) });
    expect(r.reason).toBe('script_unsigned');
  });

  it('revoked key (after a trust frame)', async () => {
    const victim = generateEd25519();
    const cap = capabilityFor(root, victim.did);
    const ok = markerCommand();
    const before = signedCommand(victim, { command: { kind: 'shell', script: ok.script }, capability: cap });
    deliver(cp, host.identity.did, before);
    await waitForRunEvent(cp, host.node, before.payload.runId, 'run-result');
    expect(existsSync(ok.marker)).toBe(true);
    const revocation = signRevocation({ v: 1, target: { did: victim.did }, iss: root.did, at: Date.now(), reason: 'laptop stolen' }, root.privateKeyPem);
    cp.sendTo(host.identity.did, { t: 'trust', body: { roots: [], revocations: [revocation] } });
    const { marker, script } = markerCommand();
    // The trust frame and the command travel in order on one socket.
    expect((await refused(signedCommand(victim, { command: { kind: 'shell', script }, capability: cap }), marker)).reason).toBe('revoked');
  });

  it('a revocation the server made up is ignored', async () => {
    const fakeRevocation = signRevocation(
      { v: 1, target: { did: operator.did }, iss: serverKey.did, at: Date.now(), reason: 'server says so' },
      serverKey.privateKeyPem,
    );
    cp.sendTo(host.identity.did, { t: 'trust', body: { roots: [], revocations: [fakeRevocation] } });
    const { marker, script } = markerCommand();
    const cmd = signedCommand(operator, { command: { kind: 'shell', script }, capability: capabilityFor(root, operator.did) });
    deliver(cp, host.identity.did, cmd);
    await waitForRunEvent(cp, host.node, cmd.payload.runId, 'run-result');
    expect(existsSync(marker)).toBe(true);
  });

  it('a roots update the server made up is ignored; one signed by a root is taken', async () => {
    const bogus = signRootsUpdate({ v: 1, version: 5, roots: [serverKey.did], iss: serverKey.did, at: Date.now() }, serverKey.privateKeyPem);
    cp.sendTo(host.identity.did, { t: 'trust', body: { roots: [bogus], revocations: [] } });
    const a = markerCommand();
    expect((await refused(signedCommand(serverKey, { command: { kind: 'shell', script: a.script } }), a.marker)).reason).toBe('unknown_issuer');
    const newRoot = generateEd25519();
    const update = signRootsUpdate({ v: 1, version: 1, roots: [root.did, newRoot.did], iss: root.did, at: Date.now() }, root.privateKeyPem);
    cp.sendTo(host.identity.did, { t: 'trust', body: { roots: [update], revocations: [] } });
    const b = markerCommand();
    const cmd = signedCommand(newRoot, { command: { kind: 'shell', script: b.script } });
    deliver(cp, host.identity.did, cmd);
    await waitForRunEvent(cp, host.node, cmd.payload.runId, 'run-result');
    expect(existsSync(b.marker)).toBe(true);
  });

  it('a command older than the replay window', async () => {
    const { marker, script } = markerCommand();
    const r = await refused(signedCommand(root, { command: { kind: 'shell', script }, issuedAt: Date.now() - 8 * 24 * HOUR }), marker);
    expect(r.reason).toBe('expired');
  });

  it('run as another user on an agent that is not root', async () => {
    const { marker, script } = markerCommand();
    const r = await refused(signedCommand(root, { command: { kind: 'shell', script }, runAs: 'postgres' }), marker);
    expect(r.reason).toBe('unsupported');
    expect(r.message).toMatch(/not as root/);
  });

  it('a command frame that does not match the protocol', async () => {
    const { marker, script } = markerCommand();
    const cmd = signedCommand(root, { command: { kind: 'shell', script } });
    const garbage = { ...cmd, payload: { ...cmd.payload, command: { kind: 'teleport', script } } };
    expect((await refused(garbage, marker)).reason).toBe('malformed');
  });

  it('a run id re-used by a different command', async () => {
    const first = signedCommand(root, { command: { kind: 'argv', argv: ['true'] } });
    deliver(cp, host.identity.did, first);
    await waitForRunEvent(cp, host.node, first.payload.runId, 'run-result');
    const { marker, script } = markerCommand();
    const second = signedCommand(root, { command: { kind: 'shell', script }, runId: first.payload.runId });
    deliver(cp, host.identity.did, second);
    const ev = await waitForRunEvent(cp, host.node, first.payload.runId, 'run-refused');
    expect(ev.data.reason).toBe('replayed_nonce');
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(marker)).toBe(false);
  });

  it('garbage frames do not take the agent down', async () => {
    for (const body of [null, 42, 'x', { command: null }, { command: { payload: 'no' } }, { command: { payload: { runId: 7 } } }]) {
      cp.sendTo(host.identity.did, { t: 'command', body });
    }
    cp.sendTo(host.identity.did, { t: 'cancel', body: { runId: 'nothing-here' } });
    cp.sendTo(host.identity.did, { t: 'trust', body: { roots: [{ v: 1 }], revocations: 'no' } });
    const cmd = signedCommand(root, { command: { kind: 'argv', argv: ['echo', 'still here'] } });
    deliver(cp, host.identity.did, cmd);
    const result = await waitForRunEvent(cp, host.node, cmd.payload.runId, 'run-result');
    expect(result.data.exitCode).toBe(0);
    expect(host.agent.lifecycle).toBe('running');
  });
});

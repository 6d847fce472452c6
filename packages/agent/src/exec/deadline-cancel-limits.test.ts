import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  commandDeadline,
  generateEd25519,
  scriptSha256,
  signCancel,
  signScript,
  type Ed25519KeyPair,
  type RefusalReason,
  type SignedCommand,
} from '@gpufleet/protocol';
import { MemoryStateStore } from '../runtime/state.js';
import { FakeControlPlane } from '../testing/fake-control-plane.js';
import { capabilityFor, deliver, runEvents, signedCommand, startExecAgent, waitForRunEvent, type ExecAgent } from '../testing/exec-harness.js';

/**
 * Issue 9, items 4 and 8 on a real agent with real signed frames: a command is accepted only
 * until its own deadline, a signed cancel makes the host refuse the command forever (even when
 * the cancel comes first, even across a restart), and capability limits on runAs, env, cwd and
 * script signers hold on the host.
 */

const root = generateEd25519();
const operator = generateEd25519();
const stranger = generateEd25519();
const self = { uid: 1000, username: 'gpufleet', home: '/tmp' };

let cp: FakeControlPlane;
let host: ExecAgent;
let state: MemoryStateStore;
let dir: string;
let n = 0;

beforeAll(async () => {
  cp = new FakeControlPlane({ heartbeatMs: 1000 });
  await cp.start();
  state = new MemoryStateStore();
  host = await startExecAgent(cp, { roots: [root.did], labels: { region: 'eu' }, state, exec: { self } });
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-deadline-'));
});

afterAll(async () => {
  await host?.agent.stop();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function marker(): { path: string; script: string } {
  const path = join(dir, `marker-${++n}`);
  return { path, script: `touch ${path}` };
}

/** Delivers, waits for the refusal, proves nothing ran (a later command completes first), returns it. */
async function refusal(
  cmd: SignedCommand,
  path: string,
  script: { content?: string | null; signature?: unknown } = {},
): Promise<{ reason: RefusalReason; message: string }> {
  deliver(cp, host.identity.did, cmd, script);
  const ev = await waitForRunEvent(cp, host.node, cmd.payload.runId, 'run-refused');
  const sentinel = signedCommand(root, { command: { kind: 'argv', argv: ['true'] } });
  deliver(cp, host.identity.did, sentinel);
  await waitForRunEvent(cp, host.node, sentinel.payload.runId, 'run-result');
  expect(existsSync(path)).toBe(false);
  expect(runEvents(host.node, cmd.payload.runId).map((e) => e.body.kind)).toEqual(['run-refused']);
  return ev.data as { reason: RefusalReason; message: string };
}

function cancelOf(cmd: SignedCommand, by: Ed25519KeyPair) {
  return signCancel(
    { v: 1, kind: 'cancel', runId: cmd.payload.runId, nonce: cmd.payload.nonce, iss: by.did, at: Date.now(), until: commandDeadline(cmd.payload) },
    by.privateKeyPem,
  );
}

describe('a command is accepted only until its own deadline', () => {
  it('refuses a never-seen command whose timeout and grace have passed (long before the 7-day window)', async () => {
    const { path, script } = marker();
    // Issued 5 minutes ago with a 30 s timeout: deadline 3.5 minutes ago, past the 60 s skew.
    const cmd = signedCommand(root, { command: { kind: 'shell', script }, issuedAt: Date.now() - 5 * 60_000, timeoutMs: 30_000 });
    const r = await refusal(cmd, path);
    expect(r.reason).toBe('expired');
    expect(r.message).toContain('deadline');
  });

  it('control: the same age with a long enough timeout still runs', async () => {
    const { path, script } = marker();
    const cmd = signedCommand(root, { command: { kind: 'shell', script }, issuedAt: Date.now() - 5 * 60_000, timeoutMs: 10 * 60_000 });
    deliver(cp, host.identity.did, cmd);
    await waitForRunEvent(cp, host.node, cmd.payload.runId, 'run-result');
    expect(existsSync(path)).toBe(true);
  });
});

describe('signed cancels', () => {
  it('a cancel that arrives before its command makes the host refuse it, also after an agent restart', async () => {
    const { path, script } = marker();
    const cmd = signedCommand(operator, { command: { kind: 'shell', script }, capability: capabilityFor(root, operator.did) });
    cp.sendTo(host.identity.did, { t: 'cancel', body: { runId: cmd.payload.runId, signed: cancelOf(cmd, operator) } });
    await cp.waitFor('the cancel recorded', () => state.loadTrust().some((r) => r.t === 'cancel' && r.cancel.runId === cmd.payload.runId));

    // The agent restarts from the same state: the cancel is durable.
    await host.agent.stop();
    host = await startExecAgent(cp, { roots: [root.did], labels: { region: 'eu' }, state, exec: { self } });
    const r = await refusal(cmd, path);
    expect(r.reason).toBe('canceled');
    expect(r.message).toContain(operator.did);
  });

  it("a root may cancel an operator's command", async () => {
    const { path, script } = marker();
    const cmd = signedCommand(operator, { command: { kind: 'shell', script }, capability: capabilityFor(root, operator.did) });
    cp.sendTo(host.identity.did, { t: 'cancel', body: { runId: cmd.payload.runId, signed: cancelOf(cmd, root) } });
    expect((await refusal(cmd, path)).reason).toBe('canceled');
  });

  it('a cancel signed by a stranger, or forged, does not stop the command', async () => {
    const { path, script } = marker();
    const cmd = signedCommand(root, { command: { kind: 'shell', script } });
    const forged = cancelOf(cmd, root);
    forged.sig = cancelOf(cmd, stranger).sig;
    cp.sendTo(host.identity.did, { t: 'cancel', body: { runId: cmd.payload.runId, signed: cancelOf(cmd, stranger) } });
    cp.sendTo(host.identity.did, { t: 'cancel', body: { runId: cmd.payload.runId, signed: forged } });
    cp.sendTo(host.identity.did, { t: 'cancel', body: { runId: cmd.payload.runId, signed: { garbage: true } } });
    deliver(cp, host.identity.did, cmd);
    const result = await waitForRunEvent(cp, host.node, cmd.payload.runId, 'run-result');
    expect(result.data).toMatchObject({ exitCode: 0, canceled: false });
    expect(existsSync(path)).toBe(true);
  });

  it('a signed cancel stops a running command, and a re-delivery of it does not start it again', async () => {
    const cmd = signedCommand(root, { command: { kind: 'argv', argv: ['sleep', '30'] } });
    deliver(cp, host.identity.did, cmd);
    await waitForRunEvent(cp, host.node, cmd.payload.runId, 'run-started');
    cp.sendTo(host.identity.did, { t: 'cancel', body: { runId: cmd.payload.runId, signed: cancelOf(cmd, root) } });
    const result = await waitForRunEvent(cp, host.node, cmd.payload.runId, 'run-result');
    expect(result.data).toMatchObject({ canceled: true });
    deliver(cp, host.identity.did, cmd);
    await waitForRunEvent(cp, host.node, cmd.payload.runId, 'run-result', 2);
    expect(runEvents(host.node, cmd.payload.runId).filter((e) => e.body.kind === 'run-started')).toHaveLength(1);
  });
});

describe('capability limits hold on the host', () => {
  const limited = () =>
    capabilityFor(root, operator.did, { can: ['exec/run', 'exec/script'], limits: { runAs: ['gpufleet'], env: ['HF_*'], cwd: ['/tmp', '/tmp/*'] } });

  it('control: a command inside every limit runs', async () => {
    const { path, script } = marker();
    const cmd = signedCommand(operator, { command: { kind: 'shell', script }, capability: limited(), env: { HF_TOKEN: 'x' }, cwd: '/tmp' });
    deliver(cp, host.identity.did, cmd);
    await waitForRunEvent(cp, host.node, cmd.payload.runId, 'run-result');
    expect(existsSync(path)).toBe(true);
  });

  it.each([
    ['an env name outside the allowed patterns', { env: { HF_TOKEN: 'x', LD_PRELOAD: '/tmp/evil.so' }, cwd: '/tmp' }, "env 'LD_PRELOAD'"],
    ['a cwd outside the allowed ones', { env: {}, cwd: '/etc' }, "cwd '/etc'"],
    ['a cwd that climbs out with ..', { env: {}, cwd: '/tmp/../etc' }, "'..'"],
    ['a runAs outside the allowed accounts', { env: {}, cwd: '/tmp', runAs: 'root' }, "runAs 'root'"],
  ])('constraint_violated: %s', async (_what, over, text) => {
    const { path, script } = marker();
    const r = await refusal(signedCommand(operator, { command: { kind: 'shell', script }, capability: limited(), ...over }), path);
    expect(r.reason).toBe('constraint_violated');
    expect(r.message).toContain(text);
  });

  it("a runAs limit judges a command without runAs as the agent's own account", async () => {
    const { path, script } = marker();
    const cap = capabilityFor(root, operator.did, { limits: { runAs: ['ubuntu'] } });
    const r = await refusal(signedCommand(operator, { command: { kind: 'shell', script }, capability: cap }), path);
    expect(r.reason).toBe('constraint_violated');
    expect(r.message).toContain("'gpufleet'");
  });

  it('scripts: root-signed refuses a library script the invoker signed, and runs one a root signed', async () => {
    const { path } = marker();
    const content = `#!/bin/sh\ntouch ${path}\n`;
    const sha = scriptSha256(content);
    const cap = capabilityFor(root, operator.did, { can: ['exec/script'], limits: { scripts: 'root-signed' } });
    const spec = { kind: 'script' as const, name: 'touch-it', version: 1, sha256: sha, args: [] };
    const own = signedCommand(operator, { command: spec, ability: 'exec/script', capability: cap });
    const r = await refusal(own, path, { content, signature: signScript('touch-it', 1, sha, operator.privateKeyPem) });
    expect(r.reason).toBe('constraint_violated');

    const byRoot = signedCommand(operator, { command: spec, ability: 'exec/script', capability: cap });
    deliver(cp, host.identity.did, byRoot, { content, signature: signScript('touch-it', 1, sha, root.privateKeyPem) });
    await waitForRunEvent(cp, host.node, byRoot.payload.runId, 'run-result');
    expect(existsSync(path)).toBe(true);
  });
});

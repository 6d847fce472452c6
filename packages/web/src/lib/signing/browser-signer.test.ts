import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CommandPayload,
  canonicalJson,
  generateEd25519,
  signCapability,
  verifyEd25519,
  verifySignedCommand,
  type Capability,
  type SignedCommandContext,
} from '@gpufleet/protocol';
import { createOperatorKey } from '../../../../cli/src/keys/key-store.js';
import { buildPayload } from '../../../../cli/src/exec/build-payload.js';
import { createBrowserSigner } from './browser-signer.js';
import { parseKeyFile, unlockKeyFile, type UnlockedKey } from './key-file.js';
import type { SignRequest } from './types.js';

/*
 * The browser signer against the host's own verifier (signed-command.ts): a command signed in
 * the browser must be accepted exactly where one signed by `gpufleet exec` would be.
 */

const root = generateEd25519();
const HOST = { hostname: 'gpu-node-07', region: 'eu', pool: 'train' };
let dir: string;
let key: UnlockedKey;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-web-signer-'));
  const made = createOperatorKey('alice', { dir });
  key = await unlockKeyFile(parseKeyFile(readFileSync(made.path, 'utf8')), '');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hostContext(over: Partial<SignedCommandContext> = {}): SignedCommandContext {
  return { roots: [root.did], now: Date.now(), isRevoked: () => false, hostLabels: HOST, seenNonce: () => false, ...over };
}

function grant(can: Capability['can'], on = '*'): Capability {
  const now = Date.now();
  return signCapability(
    { v: 1, iss: root.did, aud: key.did, can, on, nbf: now - 60_000, exp: now + 3_600_000, nonce: 'browser-test-nonce', prf: [] },
    root.privateKeyPem,
  );
}

const echo: SignRequest = { command: { kind: 'argv', argv: ['echo', 'hello-from-browser'] }, target: 'region=eu', timeoutMs: 60_000 };

describe('the browser signer', () => {
  it('signs a command a host accepts when the key is a fleet root', async () => {
    const { signer } = createBrowserSigner(key, null);
    const signed = await signer.sign(echo);
    expect(CommandPayload.safeParse(signed.payload).success).toBe(true);
    expect(signed.payload).toMatchObject({
      v: 1,
      invoker: key.did,
      ability: 'exec/run',
      target: 'region=eu',
      capability: null,
      env: {},
      cwd: null,
      runAs: null,
      timeoutMs: 60_000,
    });
    expect(verifySignedCommand(signed, hostContext({ roots: [key.did] }))).toEqual({ ok: true });
    // Not a root, no capability: the host refuses it.
    expect(verifySignedCommand(signed, hostContext())).toMatchObject({ ok: false, reason: 'unknown_issuer' });
  });

  it('signs under a capability a host accepts; one that does not cover the host is refused', async () => {
    const { signer } = createBrowserSigner(key, grant(['exec/run'], 'region=eu'));
    const signed = await signer.sign({ ...echo, env: { CUDA_VISIBLE_DEVICES: '0' }, cwd: '/tmp', runAs: 'nobody' });
    expect(verifySignedCommand(signed, hostContext())).toEqual({ ok: true });
    expect(verifySignedCommand(signed, hostContext({ hostLabels: { ...HOST, region: 'us' } }))).toMatchObject({ ok: false });
    const wrongAbility = createBrowserSigner(key, grant(['container/logs'])).signer;
    expect(verifySignedCommand(await wrongAbility.sign(echo), hostContext())).toMatchObject({ ok: false, reason: 'ability_not_granted' });
  });

  it('signs the canonical JSON of the payload, a 64-byte Ed25519 signature in base64url', async () => {
    const { signer } = createBrowserSigner(key, null);
    const signed = await signer.sign({ ...echo, command: { kind: 'shell', script: 'echo "ünïcode" && exit 0' } });
    expect(signed.sig).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(Buffer.from(signed.sig, 'base64url')).toHaveLength(64);
    expect(verifyEd25519(key.did, canonicalJson(signed.payload), signed.sig)).toBe(true);
  });

  it('signs exactly the draft it showed; a payload changed after signing fails verification', async () => {
    const { signer } = createBrowserSigner(key, null);
    const draft = signer.draft(echo);
    const signed = await signer.signDraft(draft);
    expect(signed.payload).toBe(draft);
    const ctx = hostContext({ roots: [key.did] });
    expect(verifySignedCommand(signed, ctx)).toEqual({ ok: true });
    const tampered = { ...signed, payload: { ...signed.payload, command: { kind: 'argv' as const, argv: ['rm', '-rf', '/'] } } };
    expect(verifySignedCommand(tampered, ctx)).toMatchObject({ ok: false, reason: 'bad_signature' });
    await expect(signer.signDraft({ ...draft, invoker: root.did })).rejects.toThrow(/not for the unlocked key/);
  });

  it('makes the payload the CLI makes for the same input (only the run id and nonce differ)', async () => {
    const cap = grant(['exec/run']);
    const { signer } = createBrowserSigner(key, cap, () => 1_760_000_000_000);
    const req: SignRequest = {
      command: { kind: 'shell', script: 'nvidia-smi -L' },
      target: ' pool=train ',
      timeoutMs: 900_000,
      env: { A: 'b' },
      cwd: '/opt',
      runAs: null,
    };
    const ours = signer.draft(req);
    const cli = buildPayload({
      spec: req.command,
      selector: req.target,
      timeoutMs: req.timeoutMs,
      env: { A: 'b' },
      cwd: '/opt',
      runAs: null,
      invoker: key.did,
      capability: cap,
      now: 1_760_000_000_000,
    });
    const { runId: _r1, nonce: _n1, ...a } = ours;
    const { runId: _r2, nonce: _n2, ...b } = cli;
    expect(a).toEqual(b);
    expect(ours.runId).toMatch(/^run_[A-Za-z0-9_-]{12}$/);
    expect(ours.nonce).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(ours.runId).not.toBe(cli.runId);
  });

  it('every signature has a fresh run id and nonce', async () => {
    const { signer } = createBrowserSigner(key, null);
    const a = await signer.sign(echo);
    const b = await signer.sign(echo);
    expect(a.payload.runId).not.toBe(b.payload.runId);
    expect(a.payload.nonce).not.toBe(b.payload.nonce);
  });

  it('refuses requests that cannot be signed, saying why', () => {
    const { signer } = createBrowserSigner(key, null);
    const bad: Array<[SignRequest, RegExp]> = [
      [{ ...echo, command: { kind: 'argv', argv: [] } }, /the command is empty/],
      [{ ...echo, command: { kind: 'argv', argv: [' '] } }, /the command is empty/],
      [{ ...echo, command: { kind: 'shell', script: '  ' } }, /shell script is empty/],
      [{ ...echo, timeoutMs: 500 }, /from 1s to 7d/],
      [{ ...echo, timeoutMs: 8 * 86_400_000 }, /from 1s to 7d/],
      [{ ...echo, env: { '1BAD': 'x' } }, /environment name '1BAD'/],
      [{ ...echo, target: 'region in (eu' }, /bad label selector/],
      [{ ...echo, runAs: 'x'.repeat(65) }, /run-as user is longer/],
    ];
    for (const [req, message] of bad) expect(() => signer.draft(req), JSON.stringify(req)).toThrow(message);
  });

  it('once forgotten, refuses to sign, even through a reference kept elsewhere', async () => {
    const held = createBrowserSigner(key, null);
    const kept = held.signer;
    const draft = kept.draft(echo);
    held.forget();
    await expect(kept.sign(echo)).rejects.toThrow(/forgotten/);
    await expect(kept.signDraft(draft)).rejects.toThrow(/forgotten/);
    expect(() => held.withCapability!(null)).toThrow(/forgotten/);
  });

  it('switches capability over the same key', async () => {
    const held = createBrowserSigner(key, null);
    const cap = grant(['exec/run']);
    const next = held.withCapability!(cap);
    expect(next.signer.capability).toBe(cap);
    expect(next.signer.did).toBe(key.did);
    expect(verifySignedCommand(await next.signer.sign(echo), hostContext())).toEqual({ ok: true });
  });
});

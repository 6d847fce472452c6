import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandPayload, keyPairFromPem, verifyEd25519, verifySignedCommand } from '@gpufleet/protocol';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { SERVER_KEY_FILE, SERVER_KEY_SECRET_ID, ServerIdentity } from './server-identity.js';
import { masterKeysFrom } from './master-keys.js';
import { openSecret, type SealedSecret } from './secret-box.js';

const MASTER = 'a master key that is long enough';
let dataDir: string;
let store: Store;
let logs: string[];
const clock = { now: () => Date.UTC(2025, 5, 1) };
const log = { warn: (_o: object, m: string) => void logs.push(`warn: ${m}`), info: (_o: object, m: string) => void logs.push(`info: ${m}`) };
/** A start with this master key (and env for the version and previous key); async, so a refused key is a rejection. */
const load = async (masterKey: string | undefined, env: Record<string, string> = {}) =>
  ServerIdentity.load({ store, clock, dataDir, keys: masterKeysFrom(env, masterKey ?? ''), log });

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'server-identity-'));
  store = await openStore({ database: null, dataDir });
  await store.migrate();
  logs = [];
});
afterEach(async () => {
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the control plane key', () => {
  it('is sealed in the store under a master key, and the same key comes back on the next start', async () => {
    const first = await load(MASTER);
    expect(first.storage).toBe('sealed');
    expect(first.did).toMatch(/^did:key:z6Mk/);
    const record = await store.getSecret(SERVER_KEY_SECRET_ID);
    const sealed = JSON.parse(record!.sealed) as SealedSecret;
    expect(record!.sealed).not.toMatch(/PRIVATE KEY/);
    expect(sealed).toMatchObject({ v: 1, kdf: 'scrypt' });
    expect(existsSync(join(dataDir, SERVER_KEY_FILE))).toBe(false);
    expect((await load(MASTER)).did).toBe(first.did);
    expect(logs.filter((l) => l.startsWith('warn'))).toEqual([]);
  });

  it('refuses to start with a wrong master key, or with none once the key is sealed', async () => {
    await load(MASTER);
    await expect(load('not the master key at all')).rejects.toThrow(
      /the control plane key .* cannot be opened: GPUFLEET_MASTER_KEY is not the master key it was sealed with.*set GPUFLEET_MASTER_KEY_PREVIOUS/,
    );
    await expect(load(undefined)).rejects.toThrow(/sealed in the store: set GPUFLEET_MASTER_KEY/);
    await expect(load('short')).rejects.toThrow(/at least 16 characters/);
  });

  it('without a master key lives in a 0600 file, with a warning saying so', async () => {
    const id = await load(undefined);
    const file = join(dataDir, SERVER_KEY_FILE);
    expect(id.storage).toBe('file');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(keyPairFromPem(readFileSync(file, 'utf8')).did).toBe(id.did);
    expect(logs.join('\n')).toMatch(/warn: GPUFLEET_MASTER_KEY is not set: the control plane key is kept unencrypted/);
    expect((await load(undefined)).did).toBe(id.did);
    expect(await store.getSecret(SERVER_KEY_SECRET_ID)).toBeUndefined();
  });

  it('moves a key file into the store, sealed, once a master key is given', async () => {
    const before = await load(undefined);
    const after = await load(MASTER);
    expect(after.did).toBe(before.did);
    expect(after.storage).toBe('sealed');
    expect(existsSync(join(dataDir, SERVER_KEY_FILE))).toBe(false);
    expect(logs.join('\n')).toMatch(/info: the control plane key was moved/);
  });

  it('survives a master key rotation: the previous key opens it once and it is sealed again under the new one', async () => {
    const NEW = 'the new master key, long enough';
    const first = await load(MASTER);
    const before = (await store.getSecret(SERVER_KEY_SECRET_ID))!.sealed;
    logs = [];
    const rotated = await load(NEW, { GPUFLEET_MASTER_KEY_VERSION: '2', GPUFLEET_MASTER_KEY_PREVIOUS: MASTER });
    expect(rotated.did).toBe(first.did);
    const after = (await store.getSecret(SERVER_KEY_SECRET_ID))!.sealed;
    expect(after).not.toBe(before);
    expect(openSecret(NEW, SERVER_KEY_SECRET_ID, after).toString('utf8')).toMatch(/PRIVATE KEY/);
    expect(logs).toEqual([expect.stringMatching(/^info: the control plane key was sealed with the previous master key/)]);
    // The previous key is no longer needed, and the old key alone no longer opens it.
    expect((await load(NEW, { GPUFLEET_MASTER_KEY_VERSION: '2' })).did).toBe(first.did);
    await expect(load(MASTER)).rejects.toThrow(/the control plane key .* cannot be opened/);
  });

  it('signs messages and commands as its DID, never exposing the private key', async () => {
    const signer = (await load(MASTER)).signer();
    expect(Object.keys(signer).sort()).toEqual(['did', 'sign', 'signCommand']);
    expect(verifyEd25519(signer.did, 'hello', signer.sign('hello'))).toBe(true);
    const payload = CommandPayload.parse({
      v: 1,
      runId: 'run-00000001',
      nonce: 'n'.repeat(16),
      issuedAt: clock.now(),
      ability: 'container/restart',
      target: 'pool=inference',
      command: { kind: 'container', op: 'restart', container: 'vllm' },
      env: {},
      cwd: null,
      timeoutMs: 60_000,
      runAs: null,
      invoker: signer.did,
      capability: null,
    });
    const cmd = signer.signCommand(payload);
    const verdict = verifySignedCommand(cmd, {
      roots: [signer.did],
      now: clock.now(),
      isRevoked: () => false,
      hostLabels: { pool: 'inference' },
      seenNonce: () => false,
    });
    expect(verdict).toEqual({ ok: true });
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetError } from '@gpufleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { CredentialVault, masterKeysFrom } from './credential-vault.js';
import { sampleSshHost } from '../store/__tests__/contract-ssh-hosts.js';

const OLD = 'old-master-key-0123456789';
const NEW = 'new-master-key-9876543210';
const NODE = 'did:key:z6MkVaultNode';
const LOGIN = { kind: 'key' as const, privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n', passphrase: 'pass phrase' };

let dir: string;
let store: Store;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gpufleet-vault-'));
  store = await openSqliteStore({ path: join(dir, 'db.sqlite') });
  await store.migrate();
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

function fleetError(work: () => unknown): FleetError {
  try {
    work();
  } catch (err) {
    expect(err).toBeInstanceOf(FleetError);
    return err as FleetError;
  }
  throw new Error('expected a FleetError');
}

describe('CredentialVault', () => {
  it('seals a login that opens again, and only for its own record', () => {
    const vault = new CredentialVault(masterKeysFrom({ GPUFLEET_MASTER_KEY: OLD }));
    const record = vault.sealLogin(NODE, 'login', LOGIN, 1);
    expect(record.keyVersion).toBe(1);
    expect(record.sealed).not.toContain('b3BlbnNzaC1rZXktdjEAAAAA');
    expect(record.sealed).not.toContain('pass phrase');
    expect(vault.openLogin(record)).toEqual(LOGIN);
    const moved = fleetError(() => vault.open({ ...record, id: 'cred_other' }));
    expect(moved.code).toBe('failed_precondition');
    expect(moved.message).not.toContain('b3BlbnNzaC1rZXktdjEAAAAA');
  });

  it('without a master key refuses to seal and says how to set one', () => {
    const vault = new CredentialVault(masterKeysFrom({}));
    const err = fleetError(() => vault.sealLogin(NODE, 'login', LOGIN, 1));
    expect(err.code).toBe('failed_precondition');
    expect(err.message).toMatch(/set GPUFLEET_MASTER_KEY/);
  });

  it('refuses a garbage key version or a short key', () => {
    expect(fleetError(() => masterKeysFrom({ GPUFLEET_MASTER_KEY: OLD, GPUFLEET_MASTER_KEY_VERSION: 'two' })).message).toMatch(/GPUFLEET_MASTER_KEY_VERSION/);
    expect(fleetError(() => masterKeysFrom({ GPUFLEET_MASTER_KEY: 'short' })).code).toBe('invalid_argument');
  });

  it('rotate() re-seals every record under the new key: the previous key opens old ones until then, the old key alone no longer does', async () => {
    const before = new CredentialVault(masterKeysFrom({ GPUFLEET_MASTER_KEY: OLD }));
    const login = before.sealLogin(NODE, 'login', LOGIN, 1);
    const nodeKey = before.seal(NODE, 'node-key', 'seed-bytes', 1);
    await store.insertSshHost(sampleSshHost(NODE), [login, nodeKey]);

    const after = new CredentialVault(masterKeysFrom({ GPUFLEET_MASTER_KEY: NEW, GPUFLEET_MASTER_KEY_VERSION: '2', GPUFLEET_MASTER_KEY_PREVIOUS: OLD }));
    expect(after.openLogin(login)).toEqual(LOGIN);
    expect(await after.rotate(store, 5)).toBe(2);
    const stored = await store.listSshCredentials();
    expect(stored.map((c) => [c.keyVersion, c.rotatedAt])).toEqual([
      [2, 5],
      [2, 5],
    ]);
    expect(JSON.parse(stored[0]!.sealed).salt).not.toBe(JSON.parse(login.sealed).salt);

    const newOnly = new CredentialVault(masterKeysFrom({ GPUFLEET_MASTER_KEY: NEW, GPUFLEET_MASTER_KEY_VERSION: '2' }));
    expect(newOnly.openLogin(stored.find((c) => c.purpose === 'login')!)).toEqual(LOGIN);
    expect(newOnly.open(stored.find((c) => c.purpose === 'node-key')!)).toBe('seed-bytes');
    // A record of version 1 with only version 2 known: the message says what to set.
    expect(fleetError(() => newOnly.open(login)).message).toMatch(/GPUFLEET_MASTER_KEY_PREVIOUS/);
  });
});

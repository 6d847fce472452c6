import { describe, expect, it } from 'vitest';
import type { SshCredentialRecord, SshHostRecord } from '../store.js';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { sampleNode, T0 } from './store-fixtures.js';

const NODE = 'did:key:z6MkSshHostContract';

/** An SSH host with every nullable field set; pass overrides for the variant under test. */
export function sampleSshHost(nodeId: string, overrides: Partial<SshHostRecord> = {}): SshHostRecord {
  return {
    nodeId,
    address: '10.0.0.7',
    port: 2222,
    user: 'ubuntu',
    loginKind: 'key',
    bastion: { address: 'jump.example.org', port: 22, user: 'jump' },
    hostKey: { algorithm: 'ssh-ed25519', fingerprint: 'SHA256:host', publicKey: 'AAAAC3host', pinnedAt: T0, source: 'first-use' },
    bastionHostKey: { algorithm: 'ecdsa-sha2-nistp256', fingerprint: 'SHA256:jump', publicKey: 'AAAAE2jump', pinnedAt: T0 + 1, source: 'given' },
    refusedHostKey: { algorithm: 'ssh-rsa', fingerprint: 'SHA256:other', publicKey: 'AAAAB3other', seenAt: T0 + 2 },
    lastContactAt: T0 + 3,
    lastError: 'host key changed: "ünï"',
    factsAt: T0 + 4,
    unreachableSince: T0 + 5,
    createdAt: T0,
    ...overrides,
  };
}

export function sampleCredential(nodeId: string, purpose: SshCredentialRecord['purpose'], createdAt = T0): SshCredentialRecord {
  return { id: `cred_${purpose}_${nodeId.slice(-4)}`, nodeId, purpose, keyVersion: 1, sealed: '{"v":1,"ct":"x"}', createdAt, rotatedAt: null };
}

/** Contract cases for SSH hosts and their sealed credentials (0009_ssh_hosts), and nodes.mode. */
export function sshHostContract(store: StoreRef): void {
  describe('ssh hosts', () => {
    it('stores a node mode: agent by default in fixtures, ssh round-trips and patches', async () => {
      await store().insertNode(sampleNode(NODE, { mode: 'ssh' }));
      expect((await store().getNode(NODE))?.mode).toBe('ssh');
      await store().updateNode(NODE, { mode: 'agent' });
      expect((await store().getNode(NODE))?.mode).toBe('agent');
      await expectFleetError(store().updateNode(NODE, { mode: 'carrier-pigeon' as never }), 'invalid_argument');
      expect((await store().getNode(NODE))?.mode).toBe('agent');
    });

    it('round-trips every field, with or without the nullable ones', async () => {
      const full = sampleSshHost(NODE);
      const bare = sampleSshHost(`${NODE}2`, {
        bastion: null,
        hostKey: null,
        bastionHostKey: null,
        refusedHostKey: null,
        lastContactAt: null,
        lastError: null,
        factsAt: null,
        unreachableSince: null,
        loginKind: 'password',
        createdAt: T0 + 10,
      });
      await store().insertSshHost(full, [sampleCredential(NODE, 'login'), sampleCredential(NODE, 'node-key', T0 + 1)]);
      await store().insertSshHost(bare, []);
      expect(await store().getSshHost(NODE)).toEqual(full);
      expect(await store().listSshHosts()).toEqual([full, bare]);
      expect(await store().getSshHost('did:key:z6MkNobody')).toBeUndefined();
      expect((await store().listSshCredentials({ nodeId: NODE })).map((c) => c.purpose)).toEqual(['login', 'node-key']);
    });

    it('refuses a second record for a node, and garbage, writing nothing', async () => {
      await store().insertSshHost(sampleSshHost(NODE), [sampleCredential(NODE, 'login')]);
      await expectFleetError(store().insertSshHost(sampleSshHost(NODE), []), 'already_exists');
      await expectFleetError(store().insertSshHost(sampleSshHost(`${NODE}3`, { port: 'x' as never }), []), 'invalid_argument');
      await expectFleetError(store().insertSshHost(sampleSshHost(`${NODE}3`), [{ ...sampleCredential(NODE, 'bastion') }]), 'invalid_argument');
      await expectFleetError(
        store().insertSshHost(sampleSshHost(`${NODE}3`), [{ ...sampleCredential(`${NODE}3`, 'login'), purpose: 'root' as never }]),
        'invalid_argument',
      );
      expect(await store().listSshHosts()).toHaveLength(1);
      expect(await store().listSshCredentials()).toHaveLength(1);
    });

    it('patches only the fields given and clears nullable ones; refuses unknown fields and absent hosts', async () => {
      await store().insertSshHost(sampleSshHost(NODE), []);
      await store().updateSshHost(NODE, { refusedHostKey: null, lastError: null, unreachableSince: null, lastContactAt: T0 + 99 });
      expect(await store().getSshHost(NODE)).toEqual(
        sampleSshHost(NODE, { refusedHostKey: null, lastError: null, unreachableSince: null, lastContactAt: T0 + 99 }),
      );
      await expectFleetError(store().updateSshHost(NODE, { nodeId: 'x' } as never), 'invalid_argument');
      await expectFleetError(store().updateSshHost('did:key:z6MkNobody', { lastError: 'x' }), 'not_found');
    });

    it('deletes a host with its credentials only', async () => {
      await store().insertSshHost(sampleSshHost(NODE), [sampleCredential(NODE, 'login')]);
      await store().insertSshHost(sampleSshHost(`${NODE}2`), [sampleCredential(`${NODE}2`, 'login')]);
      expect(await store().deleteSshHost(NODE)).toBe(true);
      expect(await store().deleteSshHost(NODE)).toBe(false);
      expect(await store().getSshHost(NODE)).toBeUndefined();
      expect((await store().listSshCredentials()).map((c) => c.nodeId)).toEqual([`${NODE}2`]);
    });

    it('reseals a credential with its key version and rotation time', async () => {
      const cred = sampleCredential(NODE, 'login');
      await store().insertSshHost(sampleSshHost(NODE), [cred]);
      expect(await store().resealSshCredential(cred.id, '{"v":1,"ct":"y"}', 2, T0 + 7)).toBe(true);
      expect(await store().resealSshCredential('cred_gone', '{}', 2, T0 + 7)).toBe(false);
      expect(await store().listSshCredentials()).toEqual([{ ...cred, sealed: '{"v":1,"ct":"y"}', keyVersion: 2, rotatedAt: T0 + 7 }]);
    });
  });
}

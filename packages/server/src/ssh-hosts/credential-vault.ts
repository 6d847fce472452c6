import { randomBytes } from 'node:crypto';
import { FleetError } from '@gpufleet/protocol';
import type { SshCredentialPurpose, SshCredentialRecord, Store } from '../store/store.js';
import type { MasterKeys, VersionedKey } from '../trust/master-keys.js';
import { openSecret, sealSecret } from '../trust/secret-box.js';
import type { SshLogin } from '../ssh/ssh-transport.js';

// The master keys seal more than credentials (the control plane's own records too): they live in trust/.
export { masterKeysFrom, type MasterKeys, type VersionedKey } from '../trust/master-keys.js';

/** How an operator sets the key, said wherever one is missing. */
export const MASTER_KEY_HELP =
  'set GPUFLEET_MASTER_KEY (at least 16 characters, e.g. `openssl rand -base64 32`) in the server environment and restart it; credentials are sealed with it';

/**
 * SSH credentials at rest (issue 12): each sealed with AES-256-GCM under the master key
 * (trust/secret-box.ts: scrypt, fresh salt and nonce, the record id as associated data) and
 * stored with the key's version, so a rotation knows which key opens it. Plaintext exists only
 * while a connection is made; it is never logged and never leaves in an error.
 */
export class CredentialVault {
  /** The master keys it seals and opens with (a rotation re-seals the control plane's own records with them too). */
  constructor(readonly keys: MasterKeys) {}

  get keyVersion(): number {
    return this.keys.current?.version ?? 0;
  }

  /** Throws failed_precondition, saying how to set a master key, when there is none. */
  requireKey(what: string): VersionedKey {
    if (this.keys.current === null) throw new FleetError('failed_precondition', `${what} needs a master key to seal credentials: ${MASTER_KEY_HELP}`);
    return this.keys.current;
  }

  seal(nodeId: string, purpose: SshCredentialPurpose, plaintext: string, now: number): SshCredentialRecord {
    const key = this.requireKey('storing an SSH credential');
    const id = `cred_${randomBytes(12).toString('base64url')}`;
    return { id, nodeId, purpose, keyVersion: key.version, sealed: JSON.stringify(sealSecret(key.key, id, plaintext)), createdAt: now, rotatedAt: null };
  }

  sealLogin(nodeId: string, purpose: 'login' | 'bastion', login: SshLogin, now: number): SshCredentialRecord {
    return this.seal(nodeId, purpose, JSON.stringify(login), now);
  }

  open(record: SshCredentialRecord): string {
    const key = this.keyFor(record);
    return openSecret(key, record.id, record.sealed).toString('utf8');
  }

  openLogin(record: SshCredentialRecord): SshLogin {
    const value = JSON.parse(this.open(record)) as SshLogin;
    if (value.kind === 'key') return { kind: 'key', privateKey: value.privateKey, passphrase: value.passphrase ?? null };
    if (value.kind === 'password') return { kind: 'password', password: value.password };
    throw new FleetError('internal', `credential ${record.id} of ${record.nodeId} is not a login`);
  }

  /** Re-seals every stored credential under the current key with a fresh salt and nonce; returns how many. */
  async rotate(store: Store, now: number): Promise<number> {
    const key = this.requireKey('rotating credentials');
    let rotated = 0;
    for (const record of await store.listSshCredentials()) {
      const plaintext = this.open(record);
      const sealed = JSON.stringify(sealSecret(key.key, record.id, plaintext));
      if (await store.resealSshCredential(record.id, sealed, key.version, now)) rotated++;
    }
    return rotated;
  }

  private keyFor(record: SshCredentialRecord): string {
    const { current, previous } = this.keys;
    if (current === null) throw new FleetError('failed_precondition', `SSH credentials cannot be opened without the master key: ${MASTER_KEY_HELP}`);
    if (record.keyVersion === current.version) return current.key;
    if (previous !== null && record.keyVersion === previous.version) return previous.key;
    throw new FleetError(
      'failed_precondition',
      `credential ${record.id} is sealed under master key version ${record.keyVersion}, but the server has version ${current.version}` +
        `${previous ? ` and ${previous.version}` : ''}: set GPUFLEET_MASTER_KEY_PREVIOUS to the key of version ${record.keyVersion} (with GPUFLEET_MASTER_KEY_VERSION=${record.keyVersion + 1}) and run gpufleet credentials rotate`,
    );
  }
}

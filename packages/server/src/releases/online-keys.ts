import type { Metadata, Root } from '@tufjs/models';
import { FleetError } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { Store } from '../store/store.js';
import type { MasterKeys } from '../trust/master-keys.js';
import { openSealedRecord } from '../trust/sealed-records.js';
import { sealSecret } from '../trust/secret-box.js';
import { signingKeyFromPem, type TufSigningKey } from './tuf-keys.js';

/** Id of a sealed online key's record (also its AEAD associated data): one record per key id. */
export function releaseKeySecretId(keyId: string): string {
  return `release-key.${keyId}`;
}

const NEED_MASTER_KEY =
  'the release snapshot and timestamp keys are kept sealed with the master key: set GPUFLEET_MASTER_KEY (at least 16 characters, e.g. `openssl rand -base64 32`) in the server environment and restart it';

/** The roles whose keys the server holds: it signs their metadata itself, unattended. */
export type OnlineRole = 'snapshot' | 'timestamp';

export interface OnlineKeysOptions {
  store: Store;
  clock: Clock;
  /** The master keys; no current key refuses online keys. */
  keys: MasterKeys;
  /** Told when a key sealed with the previous master key is sealed again under the current one. */
  log: { info(obj: object, msg: string): void };
}

/**
 * The snapshot and timestamp private keys, uploaded once by an admin and kept in the store
 * sealed with the master key (trust/secret-box.ts), like SSH credentials: without a master key
 * they are refused rather than kept in the clear, since whoever holds them can freeze clients
 * on old metadata. Root and targets keys never come here.
 */
export class OnlineKeys {
  // Opening a record runs scrypt: each key is opened once per process.
  readonly #opened = new Map<string, TufSigningKey>();

  constructor(private readonly o: OnlineKeysOptions) {}

  /** Throws failed_precondition, saying how to set one, when there is no master key. */
  requireMasterKey(): string {
    if (!this.o.keys.current) throw new FleetError('failed_precondition', NEED_MASTER_KEY);
    return this.o.keys.current.key;
  }

  /** Seals and stores keys; a key stored already (same id) is kept as it is. */
  async put(keys: ReadonlyArray<TufSigningKey>): Promise<void> {
    const masterKey = this.requireMasterKey();
    for (const key of keys) {
      const id = releaseKeySecretId(key.keyId);
      const sealed = JSON.stringify(sealSecret(masterKey, id, key.privateKeyPem));
      await this.o.store.insertSecret({ id, sealed, createdAt: this.o.clock.now() });
      this.#opened.set(key.keyId, key);
    }
  }

  /** The stored keys of a role of this root, up to its threshold; fewer than that is failed_precondition. */
  async signers(root: Metadata<Root>, role: OnlineRole): Promise<TufSigningKey[]> {
    const entry = root.signed.roles[role];
    const need = entry?.threshold ?? 1;
    const found: TufSigningKey[] = [];
    for (const keyId of entry?.keyIDs ?? []) {
      if (found.length >= need) break;
      const key = await this.open(keyId, role);
      if (key) found.push(key);
    }
    if (found.length < need) {
      throw new FleetError(
        'failed_precondition',
        `the server holds ${found.length} of the ${need} ${role} key(s) root version ${root.signed.version} needs: upload them with \`gpufleet releases keys upload --dir DIR\``,
      );
    }
    return found;
  }

  /** Whether every online role of this root can be signed now. */
  async complete(root: Metadata<Root>): Promise<boolean> {
    if (!this.o.keys.current) return false;
    try {
      await this.signers(root, 'snapshot');
      await this.signers(root, 'timestamp');
      return true;
    } catch (err) {
      if (FleetError.is(err, 'failed_precondition')) return false;
      throw err;
    }
  }

  private async open(keyId: string, role: OnlineRole): Promise<TufSigningKey | undefined> {
    const cached = this.#opened.get(keyId);
    if (cached) return cached;
    const record = await this.o.store.getSecret(releaseKeySecretId(keyId));
    if (!record) return undefined;
    this.requireMasterKey();
    const what = `the release signing key ${role} (${keyId.slice(0, 12)})`;
    const pem = await openSealedRecord({ store: this.o.store, keys: this.o.keys, log: this.o.log }, record, what);
    const key = signingKeyFromPem(pem.toString('utf8'), `sealed key ${keyId.slice(0, 12)}`);
    // The record id is bound by the AEAD, but a key that is not the one named is still refused.
    if (key.keyId !== keyId) throw new FleetError('internal', `sealed release key ${keyId.slice(0, 12)} holds another key`);
    this.#opened.set(keyId, key);
    return key;
  }
}

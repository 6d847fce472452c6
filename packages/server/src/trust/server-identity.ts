import { chmodSync, existsSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FleetError, generateEd25519, keyPairFromPem, signCommand, signEd25519, type CommandPayload, type SignedCommand } from '@gpufleet/protocol';
import type { SecretRecord, Store } from '../store/store.js';
import type { Clock } from '../clock.js';
import type { MasterKeys } from './master-keys.js';
import { openSealedRecord } from './sealed-records.js';
import { sealSecret, type SealedSecret } from './secret-box.js';

/** Id of the sealed record holding the control plane's private key (also the AEAD associated data). */
export const SERVER_KEY_SECRET_ID = 'server-identity.ed25519';
/** The record in words, for the operator. */
const WHAT = 'the control plane key';
/** File of the key when no master key is set (mode 0600, in the data dir). */
export const SERVER_KEY_FILE = 'server-identity.pem';

/** What automated parts of the control plane sign with; the private key itself never leaves. */
export interface ServerSigner {
  did: string;
  /** Ed25519 signature (base64url) over the bytes or the UTF-8 text. */
  sign(message: string | Uint8Array): string;
  /** Signs a command payload whose invoker is this key (see signCommand). */
  signCommand(payload: CommandPayload): SignedCommand;
}

export interface ServerIdentityOptions {
  store: Store;
  clock: Clock;
  dataDir: string;
  /** The master keys (GPUFLEET_MASTER_KEY and a previous one); no current key keeps the key in a 0600 file instead, with a warning. */
  keys: MasterKeys;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

/**
 * The control plane's own Ed25519 key, made on first start. With a master key it is sealed in
 * the store (so replicas sharing PostgreSQL share it); without one it lives in a 0600 file in the
 * data dir and a warning says so. A key file left from a start without a master key is moved
 * into the store, sealed, once a master key is given.
 */
export class ServerIdentity {
  private constructor(
    private readonly privateKeyPem: string,
    readonly did: string,
    /** Where the key is kept. */
    readonly storage: 'sealed' | 'file',
  ) {}

  static async load(opts: ServerIdentityOptions): Promise<ServerIdentity> {
    const file = join(opts.dataDir, SERVER_KEY_FILE);
    const masterKey = opts.keys.current?.key;
    const sealed = await opts.store.getSecret(SERVER_KEY_SECRET_ID);
    const open = async (record: SecretRecord) =>
      ServerIdentity.fromPem((await openSealedRecord({ store: opts.store, keys: opts.keys, log: opts.log }, record, WHAT)).toString('utf8'), 'sealed');
    if (masterKey === undefined) {
      if (sealed) {
        throw new FleetError(
          'failed_precondition',
          'the control plane key is sealed in the store: set GPUFLEET_MASTER_KEY to the master key it was sealed with',
        );
      }
      const pem = readOrCreateKeyFile(file);
      opts.log.warn(
        { file },
        'GPUFLEET_MASTER_KEY is not set: the control plane key is kept unencrypted in this file (mode 0600); set a master key to seal it at rest',
      );
      return ServerIdentity.fromPem(pem, 'file');
    }
    if (sealed) return open(sealed);

    const fromFile = existsSync(file) ? readFileSync(file, 'utf8') : null;
    const pem = fromFile ?? generateEd25519().privateKeyPem;
    const record: SealedSecret = sealSecret(masterKey, SERVER_KEY_SECRET_ID, pem);
    const stored = await opts.store.insertSecret({ id: SERVER_KEY_SECRET_ID, sealed: JSON.stringify(record), createdAt: opts.clock.now() });
    if (!stored) {
      // Another replica sealed its key first: use that one, so every replica signs as one identity.
      const winner = await opts.store.getSecret(SERVER_KEY_SECRET_ID);
      if (!winner) throw new FleetError('internal', 'the sealed control plane key vanished while it was being created');
      return open(winner);
    }
    if (fromFile !== null) {
      unlinkSync(file);
      opts.log.info({ file }, 'the control plane key was moved from its unencrypted file into the store, sealed with the master key');
    }
    return ServerIdentity.fromPem(pem, 'sealed');
  }

  private static fromPem(pem: string, storage: 'sealed' | 'file'): ServerIdentity {
    let did: string;
    try {
      did = keyPairFromPem(pem).did;
    } catch (err) {
      throw new FleetError('internal', `the control plane key is not a valid Ed25519 private key: ${(err as Error).message}`, { cause: err });
    }
    return new ServerIdentity(pem, did, storage);
  }

  /** The signer automated remediation uses with a capability operators delegated to this DID. */
  signer(): ServerSigner {
    const pem = this.privateKeyPem;
    return {
      did: this.did,
      sign: (message) => signEd25519(pem, message),
      signCommand: (payload) => signCommand(payload, pem),
    };
  }
}

function readOrCreateKeyFile(file: string): string {
  if (existsSync(file)) {
    // A key file others can read is tightened rather than refused: it is ours, in our data dir.
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    return readFileSync(file, 'utf8');
  }
  const pem = generateEd25519().privateKeyPem;
  try {
    // 'wx': a second process starting at the same moment must not overwrite the first one's key.
    writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file, 'utf8');
    throw new FleetError('unavailable', `cannot write the control plane key to ${file}: ${(err as Error).message}`, { cause: err });
  }
  chmodSync(file, 0o600);
  return pem;
}

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { Key, Signature } from '@tufjs/models';
import { canonicalJson, FleetError } from '@gpufleet/protocol';
import type { AnyMetadata } from './tuf-metadata.js';

/**
 * Ed25519 keys as TUF spells them: `{ keytype: "ed25519", scheme: "ed25519", keyval: { public:
 * <hex of the 32 raw bytes> } }`, named by the SHA-256 of that object's canonical JSON (the key
 * id python-tuf and go-tuf compute too), and signatures as hex over the canonical `signed`.
 */

/** The JSON of a public key in root metadata. */
export interface TufKeyJson {
  keytype: 'ed25519';
  scheme: 'ed25519';
  keyval: { public: string };
}

/** A private key read from its PEM, with what TUF calls it. */
export interface TufSigningKey {
  keyId: string;
  publicJson: TufKeyJson;
  privateKeyPem: string;
}

/** Makes a fresh Ed25519 key (PKCS#8 PEM). */
export function generateTufKey(): TufSigningKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  return signingKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
}

/** Reads an Ed25519 private key; anything else (RSA, a public key, garbage) is refused by name. */
export function signingKeyFromPem(pem: string, what = 'the key'): TufSigningKey {
  let raw: Buffer;
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`it is an ${key.asymmetricKeyType ?? 'unknown'} key`);
    const der = createPublicKey(key).export({ type: 'spki', format: 'der' });
    raw = der.subarray(der.length - 32);
  } catch (err) {
    throw new FleetError('invalid_argument', `${what} is not an Ed25519 private key in PEM: ${(err as Error).message}`, { cause: err });
  }
  const publicJson: TufKeyJson = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: raw.toString('hex') } };
  return { keyId: tufKeyId(publicJson), publicJson, privateKeyPem: pem };
}

/** SHA-256 (hex) of the key's canonical JSON. */
export function tufKeyId(publicJson: TufKeyJson): string {
  return createHash('sha256').update(canonicalJson(publicJson)).digest('hex');
}

/** The model's Key of a signing key. */
export function tufKey(key: TufSigningKey): Key {
  return Key.fromJSON(key.keyId, { ...key.publicJson, keyval: { ...key.publicJson.keyval } });
}

/** Adds this key's signature to the metadata (replacing an older one by the same key). */
export function signWith(metadata: AnyMetadata, key: TufSigningKey): void {
  metadata.sign((bytes) => new Signature({ keyID: key.keyId, sig: sign(null, bytes, key.privateKeyPem).toString('hex') }), true);
}

import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { didKeyFromEd25519, ed25519FromDidKey } from './did-key.js';

// SPKI DER header of an Ed25519 public key; the raw 32 key bytes follow it.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface Ed25519KeyPair {
  privateKeyPem: string;
  publicKey: Uint8Array;
  did: string;
}

export function generateEd25519(): Ed25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = rawPublicKey(publicKey);
  return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: raw, did: didKeyFromEd25519(raw) };
}

export function keyPairFromPem(privateKeyPem: string): Ed25519KeyPair {
  const privateKey = createPrivateKey(privateKeyPem);
  const raw = rawPublicKey(createPublicKey(privateKey));
  return { privateKeyPem, publicKey: raw, did: didKeyFromEd25519(raw) };
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const der = key.export({ type: 'spki', format: 'der' });
  return new Uint8Array(der.subarray(der.length - 32));
}

export function signEd25519(privateKeyPem: string, message: string | Uint8Array): string {
  return sign(null, typeof message === 'string' ? Buffer.from(message) : message, privateKeyPem).toString('base64url');
}

/** True only for a valid signature by the key behind `did`; false for anything malformed. */
export function verifyEd25519(did: string, message: string | Uint8Array, signatureB64url: string): boolean {
  try {
    const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, ed25519FromDidKey(did)]), format: 'der', type: 'spki' });
    const sig = Buffer.from(signatureB64url, 'base64url');
    if (sig.length !== 64) return false;
    return verify(null, typeof message === 'string' ? Buffer.from(message) : message, key, sig);
  } catch {
    return false;
  }
}

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { scrypt } from '@noble/hashes/scrypt.js';

/** scrypt cost for new keys: N=2^15, r=8, p=1 (32 MiB, about 0.1 s). */
export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;

/** How a private key is sealed in a key file. */
export interface SealedPem {
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: { name: 'aes-256-gcm'; nonce: string; tag: string };
  ciphertext: string;
}

// Bounds on parameters read from a file, so a doctored file cannot make us spend gigabytes.
const MAX_N = 2 ** 20;
const MAX_R = 16;
const MAX_P = 4;

function deriveKey(passphrase: string, salt: Buffer, params: { N: number; r: number; p: number }): Buffer {
  // The same scrypt as the dashboard's (packages/web/src/lib/signing/scrypt.ts), so a key file
  // opens alike on both sides. noble's 1 GiB default ceiling would refuse N=2^20, r=16, which
  // the bounds above allow, so the ceiling is what these parameters need.
  const maxmem = 128 * params.r * (params.N + params.p + 1) + 1024 * 1024;
  return Buffer.from(scrypt(passphrase.normalize('NFC'), salt, { ...params, dkLen: 32, maxmem }));
}

/**
 * Seals a PEM with a passphrase: scrypt (random 16-byte salt) derives an AES-256-GCM key; the
 * random 12-byte nonce and the tag are stored beside the ciphertext; `associatedData` (the key
 * name) is authenticated, so a sealed key cannot be passed off under another name.
 */
export function sealPem(pem: string, passphrase: string, associatedData: string): SealedPem {
  const salt = randomBytes(16);
  const nonce = randomBytes(12);
  const key = deriveKey(passphrase, salt, SCRYPT_PARAMS);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()]);
  return {
    kdf: { name: 'scrypt', ...SCRYPT_PARAMS, salt: salt.toString('base64url') },
    cipher: { name: 'aes-256-gcm', nonce: nonce.toString('base64url'), tag: cipher.getAuthTag().toString('base64url') },
    ciphertext: ciphertext.toString('base64url'),
  };
}

/** Why a sealed PEM could not be opened. */
export type OpenFailure = 'bad_parameters' | 'wrong_passphrase';

/**
 * Opens a sealed PEM. Returns the PEM, or why not: 'wrong_passphrase' when authentication
 * fails (a wrong passphrase, or a file changed since it was written: GCM cannot tell them
 * apart), 'bad_parameters' when the stored parameters are out of bounds or not decodable.
 */
export function openPem(sealed: SealedPem, passphrase: string, associatedData: string): { pem: string } | { failure: OpenFailure } {
  const { N, r, p } = sealed.kdf;
  const okInt = (v: unknown, max: number) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max;
  if (!okInt(N, MAX_N) || (N & (N - 1)) !== 0 || N < 2 || !okInt(r, MAX_R) || !okInt(p, MAX_P)) return { failure: 'bad_parameters' };
  const salt = Buffer.from(sealed.kdf.salt, 'base64url');
  const nonce = Buffer.from(sealed.cipher.nonce, 'base64url');
  const tag = Buffer.from(sealed.cipher.tag, 'base64url');
  if (salt.length < 16 || nonce.length !== 12 || tag.length !== 16) return { failure: 'bad_parameters' };
  const key = deriveKey(passphrase, salt, { N, r, p });
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(tag);
    const pem = Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    return { pem };
  } catch {
    return { failure: 'wrong_passphrase' };
  }
}

import { base64urlDecode } from '../../../../protocol/src/base64url.js';
import { didKeyFromEd25519, isDidKey } from '../../../../protocol/src/did-key.js';
import { scrypt, ScryptError, scryptParamsProblem, type ScryptParams } from './scrypt.js';

/*
 * The operator key files the CLI writes (packages/cli/src/keys/key-store.ts), read in the
 * browser: a JSON document naming the key's did:key, holding its PKCS8 PEM in the clear or
 * sealed (scrypt, then AES-256-GCM with the key's name as associated data). A plain PKCS8 PEM
 * (`openssl genpkey -algorithm ed25519`) is read as well, as the CLI does.
 */

const FORMAT = 'gpufleet-operator-key';
const PEM_HEAD = '-----BEGIN PRIVATE KEY-----';
const PEM_TAIL = '-----END PRIVATE KEY-----';

/** What went wrong reading or unlocking a key file; `message` says it for the operator. */
export type KeyFileProblem =
  | 'not_a_key_file'
  | 'unknown_version'
  | 'damaged'
  | 'passphrase_needed'
  | 'wrong_passphrase'
  | 'did_mismatch'
  | 'not_ed25519'
  | 'unsupported';

export class KeyFileError extends Error {
  constructor(
    readonly problem: KeyFileProblem,
    message: string,
  ) {
    super(message);
    this.name = 'KeyFileError';
  }
}

interface Sealed {
  kdf: ScryptParams & { salt: Uint8Array };
  nonce: Uint8Array;
  tag: Uint8Array;
  ciphertext: Uint8Array;
}

/** A key file read but not unlocked: enough to show the key and ask for its passphrase. */
export interface KeyFile {
  name: string;
  /** The did:key the file names (checked against the private key when it is unlocked). */
  did: string;
  createdAt: string | null;
  encrypted: boolean;
  /** @internal the PEM of an unencrypted file */
  readonly pem?: string;
  /** @internal what a sealed file holds */
  readonly sealed?: Sealed;
}

/** An unlocked key: the private half lives only inside WebCrypto and cannot be read back. */
export interface UnlockedKey {
  name: string;
  did: string;
  /** Ed25519, non-extractable, usable only to sign. */
  privateKey: CryptoKey;
  publicKey: Uint8Array;
}

function damaged(why: string): KeyFileError {
  return new KeyFileError('damaged', `the key file is damaged: ${why}`);
}

function bytesField(value: unknown, field: string): Uint8Array {
  if (typeof value !== 'string' || value === '') throw damaged(`field '${field}' is missing or not text`);
  try {
    return base64urlDecode(value);
  } catch {
    throw damaged(`field '${field}' is not base64url`);
  }
}

function record(value: unknown, field: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw damaged(`field '${field}' is missing or not an object`);
  return value as Record<string, unknown>;
}

function text(value: unknown, field: string): string {
  if (typeof value !== 'string') throw damaged(`field '${field}' is missing or not text`);
  return value;
}

/**
 * Reads a key file's text. Throws KeyFileError naming the problem: not JSON (nor a PEM), not a
 * gpufleet operator key, a version this dashboard does not know, or a missing or malformed
 * field. `fallbackName` names a plain PEM key, which carries no name of its own.
 */
export function parseKeyFile(source: string, fallbackName = 'imported'): KeyFile {
  const trimmed = source.trim();
  if (trimmed.startsWith(PEM_HEAD)) return { name: fallbackName, did: '', createdAt: null, encrypted: false, pem: trimmed };
  if (trimmed.startsWith('-----BEGIN')) {
    throw new KeyFileError(
      'unsupported',
      'this PEM is not an unencrypted PKCS8 private key (BEGIN PRIVATE KEY): use a gpufleet key file (`gpufleet keys new`) or convert it with `openssl pkcs8 -topk8 -nocrypt`',
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(trimmed);
  } catch {
    throw new KeyFileError('not_a_key_file', 'this is not a key file: it is neither JSON nor a PEM private key');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || (raw as { format?: unknown }).format !== FORMAT) {
    throw new KeyFileError('not_a_key_file', `this JSON is not a gpufleet operator key (no "format": "${FORMAT}"): make one with \`gpufleet keys new\``);
  }
  const d = raw as Record<string, unknown>;
  if (d.v !== 1)
    throw new KeyFileError('unknown_version', `this key file is version ${JSON.stringify(d.v)}; this dashboard reads version 1 (a newer gpufleet wrote it?)`);
  const name = text(d.name, 'name');
  const did = text(d.did, 'did');
  if (!isDidKey(did)) throw damaged(`field 'did' is not an Ed25519 did:key`);
  const createdAt = typeof d.createdAt === 'string' && d.createdAt !== '' ? d.createdAt : null;
  if (typeof d.encrypted !== 'boolean') throw damaged(`field 'encrypted' is missing or not true/false`);
  if (!d.encrypted) {
    const pem = text(d.pem, 'pem');
    if (!pem.trim().startsWith(PEM_HEAD)) throw damaged(`field 'pem' is not a PKCS8 PEM private key`);
    return { name, did, createdAt, encrypted: false, pem };
  }
  const kdf = record(d.kdf, 'kdf');
  const cipher = record(d.cipher, 'cipher');
  if (kdf.name !== 'scrypt')
    throw new KeyFileError('unsupported', `the key is sealed with key derivation '${String(kdf.name)}'; this dashboard knows scrypt only`);
  if (cipher.name !== 'aes-256-gcm')
    throw new KeyFileError('unsupported', `the key is sealed with cipher '${String(cipher.name)}'; this dashboard knows aes-256-gcm only`);
  const params = { N: kdf.N as number, r: kdf.r as number, p: kdf.p as number };
  const problem = scryptParamsProblem(params);
  if (problem) throw damaged(`its encryption parameters are out of range (${problem})`);
  const sealed: Sealed = {
    kdf: { ...params, salt: bytesField(kdf.salt, 'kdf.salt') },
    nonce: bytesField(cipher.nonce, 'cipher.nonce'),
    tag: bytesField(cipher.tag, 'cipher.tag'),
    ciphertext: bytesField(d.ciphertext, 'ciphertext'),
  };
  if (sealed.kdf.salt.length < 16) throw damaged('the scrypt salt is shorter than 16 bytes');
  if (sealed.nonce.length !== 12) throw damaged('the AES-GCM nonce is not 12 bytes');
  if (sealed.tag.length !== 16) throw damaged('the AES-GCM tag is not 16 bytes');
  return { name, did, createdAt, encrypted: true, sealed };
}

const utf8 = new TextEncoder();

/** Opens a sealed PEM: scrypt derives the AES-256-GCM key; a failed tag means a wrong passphrase (or a changed file). */
async function openSealed(sealed: Sealed, passphrase: string, name: string, onProgress?: (fraction: number) => void): Promise<string> {
  // NFC as the CLI does, so a passphrase typed with composed or decomposed accents opens the same key.
  const password = utf8.encode(passphrase.normalize('NFC'));
  let keyBytes: Uint8Array;
  try {
    keyBytes = await scrypt(password, sealed.kdf.salt, sealed.kdf, 32, onProgress ? { onProgress } : {});
  } catch (err) {
    if (err instanceof ScryptError) throw damaged(err.message);
    throw err;
  } finally {
    password.fill(0);
  }
  const aesKey = await crypto.subtle.importKey('raw', keyBytes as BufferSource, 'AES-GCM', false, ['decrypt']);
  keyBytes.fill(0);
  // WebCrypto wants the tag after the ciphertext, where Node keeps them apart.
  const sealedBytes = new Uint8Array(sealed.ciphertext.length + sealed.tag.length);
  sealedBytes.set(sealed.ciphertext);
  sealedBytes.set(sealed.tag, sealed.ciphertext.length);
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: sealed.nonce as BufferSource, additionalData: utf8.encode(name), tagLength: 128 },
      aesKey,
      sealedBytes,
    );
  } catch {
    throw new KeyFileError('wrong_passphrase', `wrong passphrase for key '${name}' (or the key file was changed since it was written)`);
  }
  const pem = new TextDecoder().decode(plain);
  new Uint8Array(plain).fill(0);
  return pem;
}

function pemToDer(pem: string): Uint8Array {
  const body = pem.trim();
  if (!body.startsWith(PEM_HEAD) || !body.includes(PEM_TAIL)) throw new KeyFileError('not_ed25519', 'the private key inside is not a PKCS8 PEM');
  const b64 = body.slice(PEM_HEAD.length, body.indexOf(PEM_TAIL)).replace(/\s+/g, '');
  try {
    return base64urlDecode(b64);
  } catch {
    throw new KeyFileError('not_ed25519', 'the private key inside is not valid base64');
  }
}

/**
 * Imports a PKCS8 Ed25519 private key into WebCrypto as a non-extractable signing key, and
 * learns its public key. WebCrypto cannot derive the public key from a non-extractable private
 * one, and a PKCS8 from OpenSSL or Node holds only the seed; so the key is imported once as
 * extractable, only to export its JWK and read `x` (the public key), and then imported again,
 * non-extractable, from the same DER. The extractable copy, its JWK (which holds `d`) and the
 * DER bytes (zeroed) are all dropped before this returns; only the non-extractable key leaves.
 */
async function importEd25519(der: Uint8Array): Promise<{ privateKey: CryptoKey; publicKey: Uint8Array }> {
  try {
    let publicKey: Uint8Array;
    {
      const extractable = await crypto.subtle.importKey('pkcs8', der as BufferSource, { name: 'Ed25519' }, true, ['sign']);
      const jwk = await crypto.subtle.exportKey('jwk', extractable);
      publicKey = base64urlDecode(jwk.x ?? '');
    }
    const privateKey = await crypto.subtle.importKey('pkcs8', der as BufferSource, { name: 'Ed25519' }, false, ['sign']);
    if (publicKey.length !== 32) throw new Error('no public key');
    return { privateKey, publicKey };
  } catch {
    throw new KeyFileError(
      'not_ed25519',
      'the private key inside is not an Ed25519 PKCS8 key (or this browser has no Ed25519 in WebCrypto: Chrome 137+, Firefox 129+, Safari 17+)',
    );
  } finally {
    der.fill(0);
  }
}

/**
 * Unlocks a key file: opens it with `passphrase` when sealed, imports the private key as a
 * non-extractable WebCrypto key, and refuses the file when its private key is not the did it
 * names. Throws KeyFileError: passphrase_needed, wrong_passphrase, did_mismatch, not_ed25519,
 * damaged. `onProgress` follows the scrypt work (most of the time spent).
 */
export async function unlockKeyFile(file: KeyFile, passphrase: string, onProgress?: (fraction: number) => void): Promise<UnlockedKey> {
  let pem: string;
  if (file.encrypted) {
    if (!file.sealed) throw damaged('its sealed key is missing');
    if (passphrase === '') throw new KeyFileError('passphrase_needed', `key '${file.name}' is encrypted: type its passphrase`);
    pem = await openSealed(file.sealed, passphrase, file.name, onProgress);
  } else {
    if (file.pem === undefined) throw damaged('the private key is missing');
    pem = file.pem;
  }
  const { privateKey, publicKey } = await importEd25519(pemToDer(pem));
  const did = didKeyFromEd25519(publicKey);
  // The did is stored in the clear (for listing); it must be this key's own.
  if (file.did !== '' && file.did !== did) throw new KeyFileError('did_mismatch', `the key file names ${file.did}, but its private key is ${did}: refusing it`);
  return { name: file.name, did, privateKey, publicKey };
}

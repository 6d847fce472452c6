import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { FleetError } from '@gpufleet/protocol';

/**
 * Secrets at rest (DESIGN.md §6): AES-256-GCM under a key derived with scrypt from the master key,
 * with a fresh salt and nonce per record and the record's id as associated data, so a sealed
 * value copied onto another record does not open there.
 */
export interface SealedSecret {
  v: 1;
  kdf: 'scrypt';
  /** scrypt cost parameters, kept so they can be raised later without breaking old records. */
  n: number;
  r: number;
  p: number;
  salt: string; // base64url, 16 bytes
  nonce: string; // base64url, 12 bytes
  ct: string; // base64url
  tag: string; // base64url, 16 bytes
}

/** The shortest master key accepted: anything shorter is too easy to guess offline. */
export const MIN_MASTER_KEY_LENGTH = 16;
const SCRYPT = { n: 1 << 15, r: 8, p: 1 };

/** Throws a FleetError naming the problem when a master key is unusable. */
export function checkMasterKey(masterKey: string): void {
  if (typeof masterKey !== 'string' || masterKey.length < MIN_MASTER_KEY_LENGTH) {
    throw new FleetError('invalid_argument', `GPUFLEET_MASTER_KEY must be at least ${MIN_MASTER_KEY_LENGTH} characters long`);
  }
}

function deriveKey(masterKey: string, salt: Buffer, p: { n: number; r: number; p: number }): Buffer {
  // 128 * N * r bytes of memory: allow it explicitly (Node's default cap is exactly 32 MiB).
  return scryptSync(masterKey, salt, 32, { N: p.n, r: p.r, p: p.p, maxmem: 256 * p.n * p.r });
}

/** Seals `plaintext` for the record `recordId`. */
export function sealSecret(masterKey: string, recordId: string, plaintext: string | Uint8Array): SealedSecret {
  checkMasterKey(masterKey);
  const salt = randomBytes(16);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(masterKey, salt, SCRYPT), nonce);
  cipher.setAAD(Buffer.from(recordId, 'utf8'));
  const ct = Buffer.concat([cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext), cipher.final()]);
  const b64 = (b: Buffer) => b.toString('base64url');
  return { v: 1, kdf: 'scrypt', ...SCRYPT, salt: b64(salt), nonce: b64(nonce), ct: b64(ct), tag: b64(cipher.getAuthTag()) };
}

function parseSealed(recordId: string, sealed: SealedSecret | string): SealedSecret {
  let value: unknown = sealed;
  if (typeof sealed === 'string') {
    try {
      value = JSON.parse(sealed);
    } catch {
      value = null;
    }
  }
  const s = value as Partial<SealedSecret> | null;
  const ok =
    s !== null &&
    typeof s === 'object' &&
    s.v === 1 &&
    s.kdf === 'scrypt' &&
    [s.n, s.r, s.p].every((x) => Number.isSafeInteger(x) && (x as number) > 0) &&
    (s.n as number) <= 1 << 20 &&
    [s.salt, s.nonce, s.ct, s.tag].every((x) => typeof x === 'string');
  if (!ok) throw new FleetError('internal', `sealed secret '${recordId}' is damaged: it is not a sealed record this version understands`);
  return s as SealedSecret;
}

/**
 * Opens a sealed record. A wrong master key, a record sealed for another id and an altered
 * record all fail the GCM check and throw failed_precondition, saying which key to check.
 */
export function openSecret(masterKey: string, recordId: string, sealed: SealedSecret | string): Buffer {
  checkMasterKey(masterKey);
  const s = parseSealed(recordId, sealed);
  const nonce = Buffer.from(s.nonce, 'base64url');
  const tag = Buffer.from(s.tag, 'base64url');
  if (nonce.length !== 12 || tag.length !== 16) throw new FleetError('internal', `sealed secret '${recordId}' is damaged: bad nonce or tag length`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', deriveKey(masterKey, Buffer.from(s.salt, 'base64url'), s), nonce);
    decipher.setAAD(Buffer.from(recordId, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(s.ct, 'base64url')), decipher.final()]);
  } catch (err) {
    throw new FleetError(
      'failed_precondition',
      `cannot open sealed secret '${recordId}': GPUFLEET_MASTER_KEY is not the master key it was sealed with (or the record was altered)`,
      { cause: err },
    );
  }
}

import { createPrivateKey } from 'node:crypto';
import { chmodSync, closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FleetError, generateEd25519, keyPairFromPem } from '@gpufleet/protocol';

/** The node's identity: its Ed25519 private key and the did:key that is its node id. */
export interface AgentIdentity {
  did: string;
  privateKeyPem: string;
}

/** Name of the private key file inside the data dir. */
export const KEY_FILE = 'node.key';

// PKCS#8 DER header of an Ed25519 private key; the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * A deterministic identity from a 32-byte seed. Only for the simulator and tests: a real host
 * makes a random key with loadOrCreateIdentity.
 */
export function identityFromSeed(seed: Uint8Array): AgentIdentity {
  if (seed.length !== 32) throw new FleetError('invalid_argument', `an Ed25519 seed is 32 bytes, got ${seed.length}`);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const pem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { did: keyPairFromPem(pem).did, privateKeyPem: pem };
}

/** Makes the data dir (0700) if it is missing. */
export function ensureDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new FleetError('failed_precondition', `cannot create the data dir ${dataDir}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Reads `node.key` from the data dir. Refuses a key file that group or others may access (the
 * private key is the node's credential) and a file that is not an Ed25519 PKCS#8 PEM.
 * Returns null when there is no key file.
 */
export function loadIdentity(dataDir: string): AgentIdentity | null {
  const path = join(dataDir, KEY_FILE);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new FleetError('failed_precondition', `cannot read the node key ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const mode = fstatSync(fd).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new FleetError(
        'failed_precondition',
        `refusing to use the node key ${path}: its mode is ${mode.toString(8).padStart(4, '0')}, so group or others can read it; run 'chmod 600 ${path}' if it was not exposed, otherwise delete the data dir and join again`,
      );
    }
    const pem = readFileSync(fd, 'utf8');
    try {
      const pair = keyPairFromPem(pem);
      return { did: pair.did, privateKeyPem: pem };
    } catch {
      throw new FleetError('failed_precondition', `the node key ${path} is not an Ed25519 private key in PEM form`);
    }
  } finally {
    closeSync(fd);
  }
}

/** Loads the node key, or makes a new one (mode 0600) when there is none. */
export function loadOrCreateIdentity(dataDir: string): AgentIdentity & { created: boolean } {
  ensureDataDir(dataDir);
  const existing = loadIdentity(dataDir);
  if (existing) return { ...existing, created: false };
  const pair = generateEd25519();
  const path = join(dataDir, KEY_FILE);
  let fd: number;
  try {
    // 'wx': never overwrite a key another process wrote meanwhile; 0600 from the first byte.
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      const raced = loadIdentity(dataDir);
      if (raced) return { ...raced, created: false };
    }
    throw new FleetError('failed_precondition', `cannot write the node key ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    writeSync(fd, pair.privateKeyPem);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(path, 0o600);
  return { did: pair.did, privateKeyPem: pair.privateKeyPem, created: true };
}

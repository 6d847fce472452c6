import { base58 } from '@scure/base';
import { FleetError } from './errors.js';

/** Multicodec prefix for an Ed25519 public key (0xed as an unsigned varint). */
const ED25519_PUB_PREFIX = [0xed, 0x01];

/** `did:key:z6Mk...` for a raw 32-byte Ed25519 public key. */
export function didKeyFromEd25519(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new FleetError('invalid_argument', `an Ed25519 public key is 32 bytes, got ${publicKey.length}`);
  const bytes = new Uint8Array(34);
  bytes.set(ED25519_PUB_PREFIX, 0);
  bytes.set(publicKey, 2);
  return `did:key:z${base58.encode(bytes)}`;
}

/** The raw 32-byte Ed25519 public key inside a `did:key`; throws invalid_argument otherwise. */
export function ed25519FromDidKey(did: string): Uint8Array {
  if (!did.startsWith('did:key:z')) throw new FleetError('invalid_argument', `not a base58 did:key: '${did.slice(0, 40)}'`);
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(did.slice('did:key:z'.length));
  } catch (err) {
    throw new FleetError('invalid_argument', `did:key is not valid base58: ${(err as Error).message}`);
  }
  if (bytes.length !== 34 || bytes[0] !== ED25519_PUB_PREFIX[0] || bytes[1] !== ED25519_PUB_PREFIX[1]) {
    throw new FleetError('invalid_argument', 'did:key does not hold an Ed25519 public key');
  }
  return bytes.slice(2);
}

export function isDidKey(value: string): boolean {
  try {
    ed25519FromDidKey(value);
    return true;
  } catch {
    return false;
  }
}

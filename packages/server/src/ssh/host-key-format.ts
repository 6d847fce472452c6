import { createHash } from 'node:crypto';
import type { SshHostKey } from './ssh-transport.js';

/**
 * Host keys as OpenSSH shows them: the algorithm a key blob names, its `SHA256:` fingerprint
 * (what `ssh-keygen -lf` prints) and the base64 blob a known_hosts line holds. Shared by the SSH
 * transport and the SSH pool provider.
 */

/** A host key as people compare it: its algorithm and `SHA256:` fingerprint. */
export interface PresentedHostKey {
  algorithm: string;
  fingerprint: string;
}

/** OpenSSH's fingerprint of a key blob: SHA-256, base64 without padding. */
export function hostKeyFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The algorithm name a key blob starts with (`ssh-ed25519`); `unknown` for a blob too short to say. */
export function hostKeyAlgorithm(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || blob.length < 4 + len) return 'unknown';
  return blob.subarray(4, 4 + len).toString('latin1');
}

export function presentedHostKey(blob: Buffer): PresentedHostKey {
  return { algorithm: hostKeyAlgorithm(blob), fingerprint: hostKeyFingerprint(blob) };
}

/** The transport's view of a key blob: algorithm, fingerprint and the blob itself in base64. */
export function sshHostKeyOf(blob: Buffer): SshHostKey {
  return { ...presentedHostKey(blob), publicKey: blob.toString('base64') };
}

/** A fingerprint as typed by a person: `SHA256:` optional, base64 padding ignored. */
export function normalizeFingerprint(fingerprint: string): string {
  const bare = fingerprint
    .trim()
    .replace(/^SHA256:/i, '')
    .replace(/=+$/, '');
  return `SHA256:${bare}`;
}

/** One known_hosts line (`[address]:port algorithm base64`), the form ansible-playbook is given. */
export function knownHostsLine(address: string, port: number, key: SshHostKey): string {
  const host = port === 22 ? address : `[${address}]:${port}`;
  return `${host} ${hostKeyAlgorithm(Buffer.from(key.publicKey, 'base64'))} ${key.publicKey}`;
}

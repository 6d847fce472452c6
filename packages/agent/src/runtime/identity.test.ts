import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDidKey, signEd25519, verifyEd25519 } from '@gpufleet/protocol';
import { identityFromSeed, KEY_FILE, loadIdentity, loadOrCreateIdentity } from './identity.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gf-identity-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('node key file', () => {
  it('creates node.key with mode 0600 and a usable did:key', () => {
    const id = loadOrCreateIdentity(join(dir, 'data'));
    expect(id.created).toBe(true);
    const path = join(dir, 'data', KEY_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'data')).mode & 0o077).toBe(0);
    expect(isDidKey(id.did)).toBe(true);
    expect(verifyEd25519(id.did, 'hello', signEd25519(id.privateKeyPem, 'hello'))).toBe(true);
    expect(readFileSync(path, 'utf8')).toContain('BEGIN PRIVATE KEY');
  });

  it('reuses the same key on the next start', () => {
    const first = loadOrCreateIdentity(dir);
    const second = loadOrCreateIdentity(dir);
    expect(second.created).toBe(false);
    expect(second.did).toBe(first.did);
  });

  it('refuses a key file that group or others can read, saying how to fix it', () => {
    loadOrCreateIdentity(dir);
    chmodSync(join(dir, KEY_FILE), 0o644);
    expect(() => loadIdentity(dir)).toThrow(/refusing to use the node key .*mode is 0644.*chmod 600/);
    expect(() => loadOrCreateIdentity(dir)).toThrow(/refusing/);
  });

  it('returns null when there is no key, and refuses a file that is not a key', () => {
    expect(loadIdentity(dir)).toBeNull();
    writeFileSync(join(dir, KEY_FILE), 'not a key at all', { mode: 0o600 });
    expect(() => loadIdentity(dir)).toThrow(/not an Ed25519 private key/);
  });
});

describe('identityFromSeed', () => {
  it('is deterministic: the same seed gives the same key and did', () => {
    const seed = new Uint8Array(32).fill(7);
    const a = identityFromSeed(seed);
    const b = identityFromSeed(Uint8Array.from(seed));
    expect(a.did).toBe(b.did);
    expect(a.privateKeyPem).toBe(b.privateKeyPem);
    expect(verifyEd25519(a.did, 'm', signEd25519(b.privateKeyPem, 'm'))).toBe(true);
  });

  it('gives different identities for different seeds', () => {
    const a = identityFromSeed(new Uint8Array(32).fill(1));
    const b = identityFromSeed(new Uint8Array(32).fill(2));
    expect(a.did).not.toBe(b.did);
  });

  it('matches the RFC 8032 test vector 1 public key', () => {
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
    const id = identityFromSeed(seed);
    // did:key of public key d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a
    expect(id.did).toBe('did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw');
  });

  it('refuses a seed of the wrong length', () => {
    expect(() => identityFromSeed(new Uint8Array(31))).toThrow(/32 bytes/);
  });
});

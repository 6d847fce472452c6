import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateEd25519, signEd25519, verifyEd25519 } from '@gpufleet/protocol';
import { CliError, UsageError } from '../errors.js';
import { openPem, sealPem } from './key-crypto.js';
import { createOperatorKey, describeOperatorKey, keyPath, keysDir, listOperatorKeys, loadOperatorKey } from './key-store.js';

let home: string;
let loc: { env: NodeJS.ProcessEnv; home: string };
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'gpufleet-keys-'));
  loc = { env: { XDG_CONFIG_HOME: join(home, 'xdg') }, home };
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

describe('key store', () => {
  it('finds keys under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(keysDir(loc)).toBe(join(home, 'xdg', 'gpufleet', 'keys'));
    expect(keysDir({ env: {}, home })).toBe(join(home, '.config', 'gpufleet', 'keys'));
    expect(keysDir({ env: { XDG_CONFIG_HOME: 'relative' }, home })).toBe(join(home, '.config', 'gpufleet', 'keys'));
  });

  it('writes an unencrypted key 0600 in a 0700 folder, and loads the same key back', () => {
    const made = createOperatorKey('default', { ...loc, now: Date.UTC(2026, 0, 2) });
    expect(statSync(made.path).mode & 0o777).toBe(0o600);
    expect(statSync(keysDir(loc)).mode & 0o777).toBe(0o700);
    const doc = JSON.parse(readFileSync(made.path, 'utf8'));
    expect(doc).toMatchObject({ format: 'gpufleet-operator-key', name: 'default', did: made.did, encrypted: false, createdAt: '2026-01-02T00:00:00.000Z' });
    const loaded = loadOperatorKey('default', loc);
    expect(loaded.did).toBe(made.did);
    expect(verifyEd25519(made.did, 'hello', signEd25519(loaded.privateKeyPem, 'hello'))).toBe(true);
  });

  it('seals a key with a passphrase: no PEM in the file, scrypt and AES-256-GCM parameters as specified', () => {
    const made = createOperatorKey('ops', { ...loc, passphrase: 'correct horse' });
    const text = readFileSync(made.path, 'utf8');
    expect(text).not.toContain('PRIVATE KEY');
    const doc = JSON.parse(text);
    expect(doc.encrypted).toBe(true);
    expect(doc.kdf).toMatchObject({ name: 'scrypt', N: 32768, r: 8, p: 1 });
    expect(Buffer.from(doc.kdf.salt, 'base64url')).toHaveLength(16);
    expect(doc.cipher.name).toBe('aes-256-gcm');
    expect(Buffer.from(doc.cipher.nonce, 'base64url')).toHaveLength(12);
    expect(loadOperatorKey('ops', { ...loc, passphrase: 'correct horse' }).did).toBe(made.did);
  });

  it('refuses a wrong passphrase, and a missing one, with one clear error each', () => {
    createOperatorKey('ops', { ...loc, passphrase: 'correct horse' });
    expect(() => loadOperatorKey('ops', { ...loc, passphrase: 'wrong' })).toThrow(new CliError("wrong passphrase for key 'ops'"));
    expect(() => loadOperatorKey('ops', loc)).toThrow(/key 'ops' is encrypted: give its passphrase/);
  });

  it('binds the sealed key to its name: a ciphertext moved under another name does not open', () => {
    const a = createOperatorKey('a', { ...loc, passphrase: 'pw' });
    const b = createOperatorKey('b', { ...loc, passphrase: 'pw' });
    const docA = JSON.parse(readFileSync(a.path, 'utf8'));
    const docB = JSON.parse(readFileSync(b.path, 'utf8'));
    writeFileSync(b.path, JSON.stringify({ ...docB, kdf: docA.kdf, cipher: docA.cipher, ciphertext: docA.ciphertext }), { mode: 0o600 });
    expect(() => loadOperatorKey('b', { ...loc, passphrase: 'pw' })).toThrow(/wrong passphrase/);
  });

  it('refuses a key file that group or others can read, and names the fix', () => {
    const made = createOperatorKey('default', loc);
    chmodSync(made.path, 0o644);
    expect(() => loadOperatorKey('default', loc)).toThrow(/open to other users \(mode 0644\).*chmod 600/);
    chmodSync(made.path, 0o640);
    expect(() => describeOperatorKey('default', loc)).toThrow(/mode 0640/);
  });

  it('will not replace a key unless forced', () => {
    const first = createOperatorKey('default', loc);
    expect(() => createOperatorKey('default', loc)).toThrow(UsageError);
    expect(loadOperatorKey('default', loc).did).toBe(first.did);
    const second = createOperatorKey('default', { ...loc, force: true });
    expect(second.did).not.toBe(first.did);
    expect(loadOperatorKey('default', loc).did).toBe(second.did);
  });

  it.each(['', '../escape', '.hidden', 'a/b', 'x'.repeat(65)])('refuses the key name %j', (name) => {
    expect(() => keyPath(name, loc)).toThrow(UsageError);
  });

  it('says how to make a key that does not exist', () => {
    expect(() => loadOperatorKey('nope', loc)).toThrow(/no key named 'nope'.*gpufleet keys new --name nope/);
  });

  it('reads a plain PKCS8 PEM file made elsewhere', () => {
    const pair = generateEd25519();
    mkdirSync(keysDir(loc), { recursive: true });
    writeFileSync(keyPath('imported', loc), pair.privateKeyPem, { mode: 0o600 });
    expect(loadOperatorKey('imported', loc).did).toBe(pair.did);
    expect(describeOperatorKey('imported', loc)).toMatchObject({ did: pair.did, encrypted: false, createdAt: null });
  });

  it.each([
    ['not JSON', 'garbage'],
    ['another format', JSON.stringify({ format: 'other', v: 1 })],
    ['a newer version', JSON.stringify({ format: 'gpufleet-operator-key', v: 2, name: 'k', did: 'd', createdAt: '', encrypted: false, pem: '' })],
    ['no ciphertext', JSON.stringify({ format: 'gpufleet-operator-key', v: 1, name: 'k', did: 'd', createdAt: '', encrypted: true })],
    ['a PEM that is not Ed25519', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'],
  ])('calls a damaged file damaged: %s', (_name, text) => {
    mkdirSync(keysDir(loc), { recursive: true });
    writeFileSync(keyPath('k', loc), text, { mode: 0o600 });
    expect(() => loadOperatorKey('k', loc)).toThrow(/is damaged/);
  });

  it('refuses a file whose stored DID is not its private key', () => {
    const made = createOperatorKey('default', loc);
    const doc = JSON.parse(readFileSync(made.path, 'utf8'));
    writeFileSync(made.path, JSON.stringify({ ...doc, did: generateEd25519().did }), { mode: 0o600 });
    expect(() => loadOperatorKey('default', loc)).toThrow(/names did:key:.*but its private key is/);
  });

  it('refuses out-of-range scrypt parameters from a doctored file without running them', () => {
    const made = createOperatorKey('ops', { ...loc, passphrase: 'pw' });
    const doc = JSON.parse(readFileSync(made.path, 'utf8'));
    writeFileSync(made.path, JSON.stringify({ ...doc, kdf: { ...doc.kdf, N: 2 ** 30 } }), { mode: 0o600 });
    expect(() => loadOperatorKey('ops', { ...loc, passphrase: 'pw' })).toThrow(/encryption parameters are out of range/);
  });

  it('lists keys with DID, encryption and creation time; a broken file shows its problem', () => {
    const a = createOperatorKey('alpha', loc);
    const b = createOperatorKey('beta', { ...loc, passphrase: 'pw' });
    writeFileSync(join(keysDir(loc), 'gamma.key'), 'junk', { mode: 0o600 });
    writeFileSync(join(keysDir(loc), 'notes.txt'), 'not a key');
    const items = listOperatorKeys(loc);
    expect(items.map((k) => [k.name, k.did, k.encrypted])).toEqual([
      ['alpha', a.did, false],
      ['beta', b.did, true],
      ['gamma', null, false],
    ]);
    expect(items[2]!.problem).toMatch(/damaged/);
    expect(listOperatorKeys({ env: {}, home: join(home, 'none') })).toEqual([]);
  });
});

describe('key sealing', () => {
  it('round-trips, and a flipped ciphertext byte is refused like a wrong passphrase', () => {
    const sealed = sealPem('secret pem', 'pw', 'name');
    expect(openPem(sealed, 'pw', 'name')).toEqual({ pem: 'secret pem' });
    const bytes = Buffer.from(sealed.ciphertext, 'base64url');
    bytes[0]! ^= 1;
    expect(openPem({ ...sealed, ciphertext: bytes.toString('base64url') }, 'pw', 'name')).toEqual({ failure: 'wrong_passphrase' });
    expect(openPem(sealed, 'pw', 'other-name')).toEqual({ failure: 'wrong_passphrase' });
  });

  it('uses a fresh salt and nonce each time', () => {
    const a = sealPem('x', 'pw', 'n');
    const b = sealPem('x', 'pw', 'n');
    expect(a.kdf.salt).not.toBe(b.kdf.salt);
    expect(a.cipher.nonce).not.toBe(b.cipher.nonce);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  });

  it('treats a passphrase typed in another Unicode normalization form as the same', () => {
    const sealed = sealPem('x', 'caf\u00e9', 'n');
    expect(openPem(sealed, 'cafe\u0301', 'n')).toEqual({ pem: 'x' });
  });

  it('refuses a short nonce or a bad N', () => {
    const sealed = sealPem('x', 'pw', 'n');
    expect(openPem({ ...sealed, cipher: { ...sealed.cipher, nonce: 'AAAA' } }, 'pw', 'n')).toEqual({ failure: 'bad_parameters' });
    expect(openPem({ ...sealed, kdf: { ...sealed.kdf, N: 1000 } }, 'pw', 'n')).toEqual({ failure: 'bad_parameters' });
  });
});

import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519, verifyEd25519 } from '@gpufleet/protocol';
import { createOperatorKey } from '../../../../cli/src/keys/key-store.js';
import { KeyFileError, parseKeyFile, unlockKeyFile, type KeyFileProblem } from './key-file.js';

/*
 * Real key files, written by the CLI's own key store (scrypt N=2^15 for the sealed ones), read
 * and unlocked by the browser's code through Node's WebCrypto.
 */

let dir: string;
let plain: { did: string; text: string };
let sealed: { did: string; text: string };
const PASS = 'correct horse battery';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-web-keys-'));
  const a = createOperatorKey('laptop', { dir });
  plain = { did: a.did, text: readFileSync(a.path, 'utf8') };
  const b = createOperatorKey('ops', { dir, passphrase: PASS });
  sealed = { did: b.did, text: readFileSync(b.path, 'utf8') };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function problemOf(work: () => unknown): Promise<{ problem: KeyFileProblem; message: string }> {
  try {
    await work();
  } catch (err) {
    if (err instanceof KeyFileError) return { problem: err.problem, message: err.message };
    throw err;
  }
  throw new Error('expected a KeyFileError');
}

const edit = (text: string, change: (doc: Record<string, any>) => void) => {
  const doc = JSON.parse(text) as Record<string, any>;
  change(doc);
  return JSON.stringify(doc);
};

describe('key files in the browser', () => {
  it('unlocks an unencrypted key into a non-extractable signing key whose did is the CLI’s', async () => {
    const file = parseKeyFile(plain.text);
    expect(file).toMatchObject({ name: 'laptop', did: plain.did, encrypted: false });
    const key = await unlockKeyFile(file, '');
    expect(key.did).toBe(plain.did);
    expect(key.name).toBe('laptop');
    expect(key.privateKey.extractable).toBe(false);
    expect(key.privateKey.usages).toEqual(['sign']);
    expect(key.privateKey.algorithm.name).toBe('Ed25519');
    await expect(crypto.subtle.exportKey('pkcs8', key.privateKey)).rejects.toThrow();
    await expect(crypto.subtle.exportKey('jwk', key.privateKey)).rejects.toThrow();
    const sig = new Uint8Array(await crypto.subtle.sign('Ed25519', key.privateKey, new TextEncoder().encode('hello')));
    expect(verifyEd25519(plain.did, 'hello', Buffer.from(sig).toString('base64url'))).toBe(true);
  });

  it('unlocks a sealed key with its passphrase, reporting scrypt progress up to done', async () => {
    const file = parseKeyFile(sealed.text);
    expect(file).toMatchObject({ name: 'ops', did: sealed.did, encrypted: true });
    const progress: number[] = [];
    const key = await unlockKeyFile(file, PASS, (f) => progress.push(f));
    expect(key.did).toBe(sealed.did);
    expect(key.privateKey.extractable).toBe(false);
    expect(progress.at(-1)).toBe(1);
  });

  it('opens a key sealed with a composed accent when the passphrase is typed decomposed (NFC, as the CLI)', async () => {
    const k = createOperatorKey('accent', { dir, passphrase: 'caf\u00e9' });
    const key = await unlockKeyFile(parseKeyFile(readFileSync(k.path, 'utf8')), 'cafe\u0301');
    expect(key.did).toBe(k.did);
  });

  it('says a wrong passphrase is wrong, and asks for one when none is given', async () => {
    const file = parseKeyFile(sealed.text);
    expect(await problemOf(() => unlockKeyFile(file, 'wrong horse'))).toEqual({
      problem: 'wrong_passphrase',
      message: "wrong passphrase for key 'ops' (or the key file was changed since it was written)",
    });
    expect(await problemOf(() => unlockKeyFile(file, ''))).toEqual({ problem: 'passphrase_needed', message: "key 'ops' is encrypted: type its passphrase" });
  });

  it('refuses a sealed key whose ciphertext, tag or name was changed (the name is authenticated)', async () => {
    const flip = (b64: string) => {
      const bytes = Buffer.from(b64, 'base64url');
      bytes[5] = bytes[5]! ^ 0x40;
      return bytes.toString('base64url');
    };
    for (const change of [
      (d: Record<string, any>) => (d.ciphertext = flip(d.ciphertext)),
      (d: Record<string, any>) => (d.cipher.tag = flip(d.cipher.tag)),
      (d: Record<string, any>) => (d.name = 'other'),
    ]) {
      const r = await problemOf(() => unlockKeyFile(parseKeyFile(edit(sealed.text, change)), PASS));
      expect(r.problem).toBe('wrong_passphrase');
    }
  });

  it('refuses a file whose did is not its private key’s', async () => {
    const other = generateEd25519().did;
    for (const text of [plain.text, sealed.text]) {
      const r = await problemOf(() => unlockKeyFile(parseKeyFile(edit(text, (d) => (d.did = other))), PASS));
      expect(r.problem).toBe('did_mismatch');
      expect(r.message).toContain(`names ${other}`);
    }
  });

  it('reads a plain PKCS8 PEM as an unencrypted key named after its file, and refuses a non-Ed25519 one', async () => {
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const key = await unlockKeyFile(parseKeyFile(ed, 'spare'), '');
    expect(key.name).toBe('spare');
    expect(key.did).toMatch(/^did:key:z6Mk/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect((await problemOf(() => unlockKeyFile(parseKeyFile(rsa), ''))).problem).toBe('not_ed25519');
    const rsaInDoc = edit(plain.text, (d) => (d.pem = rsa));
    expect((await problemOf(() => unlockKeyFile(parseKeyFile(rsaInDoc), ''))).problem).toBe('not_ed25519');
  });

  it('names what is wrong with garbage and damaged files', async () => {
    const cases: Array<[string, KeyFileProblem, RegExp]> = [
      ['hello there', 'not_a_key_file', /neither JSON nor a PEM/],
      ['', 'not_a_key_file', /neither JSON nor a PEM/],
      ['[1,2]', 'not_a_key_file', /not a gpufleet operator key/],
      ['{"format":"something-else"}', 'not_a_key_file', /not a gpufleet operator key/],
      ['-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----', 'unsupported', /not an unencrypted PKCS8/],
      [edit(plain.text, (d) => (d.v = 2)), 'unknown_version', /version 2; this dashboard reads version 1/],
      [edit(plain.text, (d) => delete d.did), 'damaged', /field 'did'/],
      [edit(plain.text, (d) => (d.did = 'did:key:zNOTBASE58!!')), 'damaged', /not an Ed25519 did:key/],
      [edit(plain.text, (d) => (d.pem = 42)), 'damaged', /field 'pem'/],
      [edit(plain.text, (d) => (d.encrypted = 'no')), 'damaged', /field 'encrypted'/],
      [edit(sealed.text, (d) => delete d.kdf.salt), 'damaged', /field 'kdf.salt'/],
      [edit(sealed.text, (d) => (d.kdf.salt = 'c2hvcnQ')), 'damaged', /salt is shorter than 16 bytes/],
      [edit(sealed.text, (d) => (d.cipher.nonce = 'AAAA')), 'damaged', /nonce is not 12 bytes/],
      [edit(sealed.text, (d) => (d.ciphertext = 'not*base64')), 'damaged', /field 'ciphertext' is not base64url/],
      [edit(sealed.text, (d) => (d.kdf.N = 2 ** 22)), 'damaged', /out of range/],
      [edit(sealed.text, (d) => (d.kdf.p = 64)), 'damaged', /out of range/],
      [edit(sealed.text, (d) => (d.kdf.name = 'argon2id')), 'unsupported', /knows scrypt only/],
      [edit(sealed.text, (d) => (d.cipher.name = 'chacha20')), 'unsupported', /knows aes-256-gcm only/],
      [edit(sealed.text, (d) => (d.cipher = null)), 'damaged', /field 'cipher'/],
    ];
    for (const [text, problem, message] of cases) {
      const r = await problemOf(() => parseKeyFile(text));
      expect(r.problem, text.slice(0, 80)).toBe(problem);
      expect(r.message, text.slice(0, 80)).toMatch(message);
    }
  });
});

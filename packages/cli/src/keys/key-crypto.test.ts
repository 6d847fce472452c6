import { createCipheriv, randomBytes, scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openPem, SCRYPT_PARAMS, type SealedPem } from './key-crypto.js';

/** Seals the way the CLI did before it used @noble/hashes (node:crypto's scrypt). */
function sealWithNodeScrypt(pem: string, passphrase: string, name: string, params: { N: number; r: number; p: number }): SealedPem {
  const salt = randomBytes(16);
  const nonce = randomBytes(12);
  const key = scryptSync(passphrase.normalize('NFC'), salt, 32, { ...params, maxmem: 256 * params.N * params.r + 2 ** 20 });
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(name, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()]);
  return {
    kdf: { name: 'scrypt', ...params, salt: salt.toString('base64url') },
    cipher: { name: 'aes-256-gcm', nonce: nonce.toString('base64url'), tag: cipher.getAuthTag().toString('base64url') },
    ciphertext: ciphertext.toString('base64url'),
  };
}

describe('key-crypto on @noble/hashes scrypt', () => {
  it('opens key files sealed with node:crypto scrypt (files written by earlier versions)', () => {
    for (const params of [SCRYPT_PARAMS, { N: 1024, r: 4, p: 2 }]) {
      const sealed = sealWithNodeScrypt('-----BEGIN PRIVATE KEY-----\nabc\n', 'pässwort', 'ops', params);
      expect(openPem(sealed, 'pässwort', 'ops')).toEqual({ pem: '-----BEGIN PRIVATE KEY-----\nabc\n' });
      expect(openPem(sealed, 'passwort', 'ops')).toEqual({ failure: 'wrong_passphrase' });
    }
  });

  it('refuses garbage parameters and encodings without deriving', () => {
    const sealed = sealWithNodeScrypt('x', 'pw', 'n', { N: 16, r: 1, p: 1 });
    const bad: SealedPem[] = [
      { ...sealed, kdf: { ...sealed.kdf, N: 2 ** 21 } },
      { ...sealed, kdf: { ...sealed.kdf, r: 0 } },
      { ...sealed, kdf: { ...sealed.kdf, p: 1.5 } },
      { ...sealed, kdf: { ...sealed.kdf, N: 'lots' as unknown as number } },
      { ...sealed, kdf: { ...sealed.kdf, salt: 'AAAA' } },
      { ...sealed, cipher: { ...sealed.cipher, tag: '' } },
    ];
    for (const b of bad) expect(openPem(b, 'pw', 'n'), JSON.stringify(b.kdf)).toEqual({ failure: 'bad_parameters' });
  });
});

import { describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { openSecret, sealSecret } from './secret-box.js';

const KEY = 'correct horse battery staple 42';

describe('secret box (AES-256-GCM, scrypt-derived key, record id as associated data)', () => {
  it('opens what it sealed, and never shows the plaintext', () => {
    const sealed = sealSecret(KEY, 'rec-1', 'the private key');
    expect(openSecret(KEY, 'rec-1', sealed).toString('utf8')).toBe('the private key');
    expect(openSecret(KEY, 'rec-1', JSON.stringify(sealed)).toString('utf8')).toBe('the private key');
    expect(JSON.stringify(sealed)).not.toContain('private');
    expect(Buffer.from(sealed.ct, 'base64url').toString('utf8')).not.toContain('private');
  });

  it('uses a fresh salt and nonce per record: the same plaintext seals differently each time', () => {
    const a = sealSecret(KEY, 'rec-1', 'same text');
    const b = sealSecret(KEY, 'rec-1', 'same text');
    expect(a.ct).not.toBe(b.ct);
    expect(a.salt).not.toBe(b.salt);
    expect(a.nonce).not.toBe(b.nonce);
    expect(Buffer.from(a.salt, 'base64url')).toHaveLength(16);
    expect(Buffer.from(a.nonce, 'base64url')).toHaveLength(12);
  });

  it('refuses a wrong master key with a clear error', () => {
    const sealed = sealSecret(KEY, 'rec-1', 'secret');
    const err = (() => {
      try {
        openSecret('another master key of length', 'rec-1', sealed);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(FleetError);
    expect((err as FleetError).code).toBe('failed_precondition');
    expect((err as FleetError).message).toMatch(/GPUFLEET_MASTER_KEY is not the master key it was sealed with/);
  });

  it('binds a sealed value to its record id, and notices any altered byte', () => {
    const sealed = sealSecret(KEY, 'rec-1', 'secret');
    expect(() => openSecret(KEY, 'rec-2', sealed)).toThrow(/cannot open sealed secret 'rec-2'/);
    const ct = Buffer.from(sealed.ct, 'base64url');
    ct[0] = ct[0]! ^ 1;
    expect(() => openSecret(KEY, 'rec-1', { ...sealed, ct: ct.toString('base64url') })).toThrow(/or the record was altered/);
  });

  it('refuses short master keys and damaged records', () => {
    expect(() => sealSecret('short', 'rec', 'x')).toThrow(/at least 16 characters/);
    expect(() => openSecret(KEY, 'rec', 'not json')).toThrow(/damaged/);
    expect(() => openSecret(KEY, 'rec', { ...sealSecret(KEY, 'rec', 'x'), kdf: 'md5' } as never)).toThrow(/damaged/);
    expect(() => openSecret(KEY, 'rec', { ...sealSecret(KEY, 'rec', 'x'), nonce: 'AAAA' })).toThrow(/bad nonce or tag length/);
  });
});

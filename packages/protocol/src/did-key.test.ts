import { describe, expect, it } from 'vitest';
import { base58 } from '@scure/base';
import { didKeyFromEd25519, ed25519FromDidKey, isDidKey } from './did-key.js';
import { generateEd25519, keyPairFromPem, signEd25519, verifyEd25519 } from './ed25519.js';

describe('did:key', () => {
  // The W3C did:key spec's Ed25519 test vector.
  const specDid = 'did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp';

  it('decodes the spec example and encodes it back', () => {
    const raw = ed25519FromDidKey(specDid);
    expect(raw.length).toBe(32);
    expect(didKeyFromEd25519(raw)).toBe(specDid);
  });

  it('starts with z6Mk for every Ed25519 key', () => {
    for (let i = 0; i < 20; i++) expect(generateEd25519().did.startsWith('did:key:z6Mk')).toBe(true);
  });

  it('keeps leading zero bytes through base58', () => {
    const bytes = new Uint8Array([0, 0, 1, 2, 255]);
    expect(base58.decode(base58.encode(bytes))).toEqual(bytes);
    expect(base58.encode(new Uint8Array([0, 0]))).toBe('11');
  });

  it.each(['', 'did:web:example.com', 'did:key:zzzz0OIl', `did:key:z${base58.encode(new Uint8Array([0x12, 0x00, 1, 2]))}`, 'did:key:z6Mk'])(
    'refuses %s',
    (bad) => {
      expect(isDidKey(bad)).toBe(false);
      expect(() => ed25519FromDidKey(bad)).toThrow(/did:key/);
    },
  );

  it('refuses a public key of the wrong length', () => {
    expect(() => didKeyFromEd25519(new Uint8Array(31))).toThrow(/32 bytes/);
  });
});

describe('Ed25519 signatures', () => {
  const pair = generateEd25519();

  it('verifies a signature by the key behind the did', () => {
    const sig = signEd25519(pair.privateKeyPem, 'hello');
    expect(verifyEd25519(pair.did, 'hello', sig)).toBe(true);
    expect(keyPairFromPem(pair.privateKeyPem).did).toBe(pair.did);
  });

  it('refuses a changed message, another key, and garbage signatures', () => {
    const sig = signEd25519(pair.privateKeyPem, 'hello');
    expect(verifyEd25519(pair.did, 'hellO', sig)).toBe(false);
    expect(verifyEd25519(generateEd25519().did, 'hello', sig)).toBe(false);
    expect(verifyEd25519(pair.did, 'hello', 'not-base64!')).toBe(false);
    expect(verifyEd25519(pair.did, 'hello', '')).toBe(false);
    expect(verifyEd25519('did:key:zgarbage', 'hello', sig)).toBe(false);
  });
});

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { base64urlDecode, base64urlEncode } from './base64url.js';

describe('base64url', () => {
  it("encodes and decodes exactly as Node's Buffer does, for every length up to 70 bytes", () => {
    for (let n = 0; n <= 70; n++) {
      const bytes = randomBytes(n);
      const text = base64urlEncode(bytes);
      expect(text).toBe(bytes.toString('base64url'));
      expect(Buffer.from(base64urlDecode(text)).equals(bytes)).toBe(true);
    }
  });

  it('reads padded and standard-alphabet text like Node does', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0xbf, 0x10]);
    expect(Buffer.from(base64urlDecode(bytes.toString('base64'))).equals(bytes)).toBe(true);
  });

  it('refuses characters outside the alphabet and impossible lengths', () => {
    expect(() => base64urlDecode('ab$d')).toThrow(/unexpected character '\$'/);
    expect(() => base64urlDecode('abcde')).toThrow(/impossible length/);
  });
});

import { describe, expect, it } from 'vitest';
import { decodeJoinToken, encodeJoinToken } from './join-token.js';
import { normalizePciBusId } from './pci.js';
import { parseDurationMs } from './rest.js';

describe('join tokens', () => {
  const payload = {
    url: 'https://fleet.example:7420',
    caFingerprint: 'a'.repeat(64),
    roots: ['did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp'],
    tokenId: 'abc123',
    secret: 's3cret',
  };

  it('round-trips every field', () => {
    expect(decodeJoinToken(encodeJoinToken(payload))).toEqual(payload);
    expect(decodeJoinToken(`  ${encodeJoinToken({ ...payload, caFingerprint: null })}\n`).caFingerprint).toBeNull();
  });

  it.each([
    ['', /gfj1/],
    ['gfj2.abc', /gfj1/],
    ['gfj1.!!!!', /damaged/],
    [`gfj1.${Buffer.from('{"u":1}').toString('base64url')}`, /damaged/],
    [`gfj1.${Buffer.from(JSON.stringify({ u: 'ftp://x', f: null, r: [], i: 'a', s: 'b' })).toString('base64url')}`, /http or https/],
    [`gfj1.${Buffer.from(JSON.stringify({ u: 'https://x', f: 'short', r: [], i: 'a', s: 'b' })).toString('base64url')}`, /damaged/],
    [`gfj1.${Buffer.from(JSON.stringify({ u: 'not a url', f: null, r: [], i: 'a', s: 'b' })).toString('base64url')}`, /not a URL/],
  ])('refuses %s', (token, message) => {
    expect(() => decodeJoinToken(token)).toThrow(message);
  });
});

describe('PCI bus ids', () => {
  it.each([
    ['00000000:17:00.0', '0000:17:00.0'],
    ['0000:3B:00.0', '0000:3b:00.0'],
    ['PCI:0000:17:00', '0000:17:00.0'],
    ['17:00.0', '0000:17:00.0'],
    ['00000001:c1:00.1', '0001:c1:00.1'],
  ])('%s -> %s', (raw, expected) => {
    expect(normalizePciBusId(raw)).toBe(expected);
  });

  it.each(['', 'garbage', '17', 'zz:00.0', null, undefined])('%s -> null', (raw) => {
    expect(normalizePciBusId(raw as string)).toBeNull();
  });
});

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['90s', 90_000],
    ['15m', 900_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
  ])('%s', (text, ms) => expect(parseDurationMs(text)).toBe(ms));
  it.each(['', '5', '5 h', '-5s', '1w', 'abc'])('refuses %s', (text) => expect(() => parseDurationMs(text)).toThrow(/duration/));
});

import { describe, expect, it } from 'vitest';
import { FleetError } from './errors.js';
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

describe('join tokens for a control plane with several replicas', () => {
  const base = { url: 'https://a.example:7420', caFingerprint: 'a'.repeat(64), roots: [], tokenId: 't1', secret: 's' };
  const urls = ['https://a.example:7420', 'https://b.example:7421', 'https://c.example:7422'];
  const raw = (o: Record<string, unknown>) =>
    `gfj1.${Buffer.from(JSON.stringify({ u: base.url, f: base.caFingerprint, r: [], i: 't1', s: 's', ...o })).toString('base64url')}`;
  const json = (token: string) => JSON.parse(Buffer.from(token.slice(5), 'base64url').toString('utf8')) as Record<string, unknown>;

  it('carries every URL, the main one first', () => {
    const token = encodeJoinToken({ ...base, urls });
    expect(json(token).us).toEqual(urls);
    expect(decodeJoinToken(token)).toEqual({ ...base, urls });
  });

  it('writes no list for a single server, so the token reads as before', () => {
    const token = encodeJoinToken({ ...base, urls: [base.url] });
    expect(json(token)).not.toHaveProperty('us');
    expect(token).toBe(encodeJoinToken(base));
    expect(decodeJoinToken(token)).toEqual(base);
    expect(decodeJoinToken(raw({})).urls).toBeUndefined();
  });

  it.each([
    ['a list that is not an array', { us: 'https://b.example' }, /not a list/],
    ['an empty list', { us: [] }, /empty/],
    ['17 URLs', { us: Array.from({ length: 17 }, (_, i) => `https://n${i}.example`) }, /at most 16 server URLs, got 17/],
    ['an ftp URL', { us: [base.url, 'ftp://b.example'] }, /#2: 'ftp:\/\/b.example' is not an http or https URL/],
    ['a URL that does not parse', { us: [base.url, 'b example'] }, /#2: 'b example' is not a URL/],
    ['an entry that is not a string', { us: [base.url, 7] }, /#2 is not a string/],
    ['the same URL twice', { us: [base.url, 'https://b.example:7421', 'https://b.example:7421/'] }, /#3 .* listed twice/],
    ['a list that does not start with the main URL', { us: ['https://b.example:7421', base.url] }, /must start with its server URL/],
  ])('refuses %s', (_name, extra, message) => {
    const err = thrownBy(() => decodeJoinToken(raw(extra)));
    expect(err).toBeInstanceOf(FleetError);
    expect(err).toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/^join token is damaged: /) });
    expect((err as Error).message).toMatch(message);
  });

  it('mints no token a host would refuse', () => {
    expect(() => encodeJoinToken({ ...base, urls: ['https://b.example:7421', base.url] })).toThrow(/must start with its server URL/);
    expect(() => encodeJoinToken({ ...base, urls: [base.url, 'ftp://b'] })).toThrow(/join token: server URL #2/);
  });
});

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected it to throw');
}

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

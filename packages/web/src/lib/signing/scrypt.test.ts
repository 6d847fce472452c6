import { scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KEY_FILE_SCRYPT_LIMITS, scrypt, ScryptError, scryptParamsProblem } from './scrypt.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const NO_LIMITS = { maxN: 2 ** 20, maxR: 64, maxP: 64 };

describe('scrypt (@noble/hashes, for the browser)', () => {
  // RFC 7914 §12; the fourth vector (N=2^20, 1 GiB) is left out for memory.
  const vectors = [
    {
      P: '',
      S: '',
      N: 16,
      r: 1,
      p: 1,
      dk: '77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906',
    },
    {
      P: 'password',
      S: 'NaCl',
      N: 1024,
      r: 8,
      p: 16,
      dk: 'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640',
    },
    {
      P: 'pleaseletmein',
      S: 'SodiumChloride',
      N: 16384,
      r: 8,
      p: 1,
      dk: '7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887',
    },
  ];
  for (const t of vectors) {
    it(`gives the RFC 7914 vector for P='${t.P}', N=${t.N}, r=${t.r}, p=${t.p}`, async () => {
      const dk = await scrypt(utf8(t.P), utf8(t.S), { N: t.N, r: t.r, p: t.p }, 64, { limits: NO_LIMITS });
      expect(hex(dk)).toBe(t.dk);
    });
  }

  it("agrees with node:crypto's scryptSync on other parameters, salts and lengths", async () => {
    const cases = [
      { N: 2, r: 1, p: 1, len: 32 },
      { N: 256, r: 3, p: 2, len: 17 },
      { N: 1024, r: 16, p: 1, len: 32 },
      { N: 4096, r: 8, p: 4, len: 48 },
      { N: 2 ** 15, r: 8, p: 1, len: 32 }, // the CLI's parameters for new keys
    ];
    for (const c of cases) {
      const password = utf8(`pässwörd-${c.N}-${c.r}`);
      const salt = crypto.getRandomValues(new Uint8Array(16));
      const ours = await scrypt(password, salt, c, c.len);
      const node = scryptSync(password, salt, c.len, { N: c.N, r: c.r, p: c.p, maxmem: 256 * c.N * c.r + 2 ** 20 });
      expect(hex(ours), JSON.stringify(c)).toBe(node.toString('hex'));
    }
  }, 60_000);

  it('reports progress from 0 to 1, rising, and yields to the event loop while it works', async () => {
    const seen: number[] = [];
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    try {
      await scrypt(utf8('x'), utf8('salt'), { N: 2 ** 14, r: 8, p: 1 }, 32, { onProgress: (f) => seen.push(f), sliceMs: 1 });
    } finally {
      clearInterval(ticker);
    }
    expect(seen.at(-1)).toBe(1);
    expect(seen.length).toBeGreaterThan(2);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
    expect(ticks).toBeGreaterThan(0);
  }, 30_000);

  it('refuses parameters out of the key-file bounds before doing any work', async () => {
    const bad = [
      { N: 2 ** 21, r: 8, p: 1 },
      { N: 3000, r: 8, p: 1 },
      { N: 1, r: 8, p: 1 },
      { N: 1024, r: 17, p: 1 },
      { N: 1024, r: 0, p: 1 },
      { N: 1024, r: 8, p: 5 },
      { N: 1024, r: 8, p: 1.5 },
      { N: Number.NaN, r: 8, p: 1 },
    ];
    for (const params of bad) {
      expect(scryptParamsProblem(params), JSON.stringify(params)).not.toBeNull();
      await expect(scrypt(utf8('x'), utf8('y'), params, 32)).rejects.toBeInstanceOf(ScryptError);
    }
    expect(scryptParamsProblem({ N: KEY_FILE_SCRYPT_LIMITS.maxN, r: 16, p: 4 })).toBeNull();
    await expect(scrypt(utf8('x'), utf8('y'), { N: 16, r: 1, p: 1 }, 0)).rejects.toThrow(/key length/);
  });
});

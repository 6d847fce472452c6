/**
 * scrypt (RFC 7914) for the browser, which has no scrypt of its own: PBKDF2-HMAC-SHA256 comes
 * from WebCrypto, the memory-hard middle (ROMix over Salsa20/8 BlockMix) is written here on
 * Uint32Arrays. It is async and hands the event loop back every few milliseconds, so a 32 MiB
 * key derivation (the CLI's N=2^15, r=8) does not freeze the page, and reports its progress.
 */

export interface ScryptParams {
  /** CPU/memory cost: a power of two above 1. */
  N: number;
  /** Block size factor. */
  r: number;
  /** Parallelization factor. */
  p: number;
}

export interface ScryptLimits {
  maxN: number;
  maxR: number;
  maxP: number;
}

/**
 * The bounds the CLI puts on parameters read from a key file (key-crypto.ts), so a doctored
 * file cannot make the page allocate gigabytes or spin for minutes.
 */
export const KEY_FILE_SCRYPT_LIMITS: ScryptLimits = { maxN: 2 ** 20, maxR: 16, maxP: 4 };

export interface ScryptOptions {
  /** Called with the fraction done (0 to 1) as the work goes on. */
  onProgress?: (fraction: number) => void;
  /** Parameter bounds; default KEY_FILE_SCRYPT_LIMITS. */
  limits?: ScryptLimits;
  /** Work at most this long between yields to the event loop. Default 12 ms. */
  sliceMs?: number;
}

/** Parameters out of bounds or memory the browser would not give. */
export class ScryptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScryptError';
  }
}

/** Why `params` are refused under `limits`, or null when they are fine. */
export function scryptParamsProblem(params: ScryptParams, limits: ScryptLimits = KEY_FILE_SCRYPT_LIMITS): string | null {
  const { N, r, p } = params;
  const whole = (v: unknown, max: number) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max;
  if (!whole(N, limits.maxN) || N < 2 || (N & (N - 1)) !== 0) return `scrypt N must be a power of two from 2 to ${limits.maxN}, not ${String(N)}`;
  if (!whole(r, limits.maxR)) return `scrypt r must be a whole number from 1 to ${limits.maxR}, not ${String(r)}`;
  if (!whole(p, limits.maxP)) return `scrypt p must be a whole number from 1 to ${limits.maxP}, not ${String(p)}`;
  return null;
}

async function pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, bytes: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', password as BufferSource, 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'PBKDF2', salt: salt as BufferSource, iterations: 1, hash: 'SHA-256' }, key, bytes * 8));
}

/** Salsa20/8 core on the 16 words of `b` at `o`, in place. */
function salsa208(b: Uint32Array, o: number): void {
  let x0 = b[o]!, x1 = b[o + 1]!, x2 = b[o + 2]!, x3 = b[o + 3]!, x4 = b[o + 4]!, x5 = b[o + 5]!, x6 = b[o + 6]!, x7 = b[o + 7]!;
  let x8 = b[o + 8]!, x9 = b[o + 9]!, x10 = b[o + 10]!, x11 = b[o + 11]!, x12 = b[o + 12]!, x13 = b[o + 13]!, x14 = b[o + 14]!, x15 = b[o + 15]!;
  const rotl = (v: number, c: number) => (v << c) | (v >>> (32 - c));
  for (let i = 0; i < 8; i += 2) {
    // Column round.
    x4 ^= rotl((x0 + x12) | 0, 7); x8 ^= rotl((x4 + x0) | 0, 9); x12 ^= rotl((x8 + x4) | 0, 13); x0 ^= rotl((x12 + x8) | 0, 18);
    x9 ^= rotl((x5 + x1) | 0, 7); x13 ^= rotl((x9 + x5) | 0, 9); x1 ^= rotl((x13 + x9) | 0, 13); x5 ^= rotl((x1 + x13) | 0, 18);
    x14 ^= rotl((x10 + x6) | 0, 7); x2 ^= rotl((x14 + x10) | 0, 9); x6 ^= rotl((x2 + x14) | 0, 13); x10 ^= rotl((x6 + x2) | 0, 18);
    x3 ^= rotl((x15 + x11) | 0, 7); x7 ^= rotl((x3 + x15) | 0, 9); x11 ^= rotl((x7 + x3) | 0, 13); x15 ^= rotl((x11 + x7) | 0, 18);
    // Row round.
    x1 ^= rotl((x0 + x3) | 0, 7); x2 ^= rotl((x1 + x0) | 0, 9); x3 ^= rotl((x2 + x1) | 0, 13); x0 ^= rotl((x3 + x2) | 0, 18);
    x6 ^= rotl((x5 + x4) | 0, 7); x7 ^= rotl((x6 + x5) | 0, 9); x4 ^= rotl((x7 + x6) | 0, 13); x5 ^= rotl((x4 + x7) | 0, 18);
    x11 ^= rotl((x10 + x9) | 0, 7); x8 ^= rotl((x11 + x10) | 0, 9); x9 ^= rotl((x8 + x11) | 0, 13); x10 ^= rotl((x9 + x8) | 0, 18);
    x12 ^= rotl((x15 + x14) | 0, 7); x13 ^= rotl((x12 + x15) | 0, 9); x14 ^= rotl((x13 + x12) | 0, 13); x15 ^= rotl((x14 + x13) | 0, 18);
  }
  b[o]! += x0; b[o + 1]! += x1; b[o + 2]! += x2; b[o + 3]! += x3; b[o + 4]! += x4; b[o + 5]! += x5; b[o + 6]! += x6; b[o + 7]! += x7;
  b[o + 8]! += x8; b[o + 9]! += x9; b[o + 10]! += x10; b[o + 11]! += x11; b[o + 12]! += x12; b[o + 13]! += x13; b[o + 14]! += x14; b[o + 15]! += x15;
}

/**
 * scryptBlockMix: `input` (2r blocks of 16 words) into `out`; `x` is 16 words of scratch.
 * Even-numbered results go to the first half of `out`, odd-numbered to the second.
 */
function blockMix(input: Uint32Array, out: Uint32Array, x: Uint32Array, r: number): void {
  x.set(input.subarray((2 * r - 1) * 16, 2 * r * 16));
  for (let i = 0; i < 2 * r; i++) {
    const at = i * 16;
    for (let k = 0; k < 16; k++) x[k]! ^= input[at + k]!;
    salsa208(x, 0);
    out.set(x, ((i >> 1) + (i & 1) * r) * 16);
  }
}

/** Little-endian words of `bytes` (the byte order Salsa20 reads, whatever the platform's). */
function wordsOf(bytes: Uint8Array, from: number, count: number): Uint32Array {
  const w = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const o = from + i * 4;
    w[i] = bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16) | (bytes[o + 3]! << 24);
  }
  return w;
}

function writeWords(words: Uint32Array, bytes: Uint8Array, from: number): void {
  for (let i = 0; i < words.length; i++) {
    const v = words[i]!;
    const o = from + i * 4;
    bytes[o] = v & 0xff;
    bytes[o + 1] = (v >>> 8) & 0xff;
    bytes[o + 2] = (v >>> 16) & 0xff;
    bytes[o + 3] = (v >>> 24) & 0xff;
  }
}

const nextTask = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * scrypt(password, salt, N, r, p, dkLen). Throws ScryptError when the parameters are outside
 * `limits` or the browser will not give the 128·N·r bytes it needs.
 */
export async function scrypt(password: Uint8Array, salt: Uint8Array, params: ScryptParams, dkLen: number, opts: ScryptOptions = {}): Promise<Uint8Array> {
  const problem = scryptParamsProblem(params, opts.limits ?? KEY_FILE_SCRYPT_LIMITS);
  if (problem) throw new ScryptError(problem);
  if (!Number.isInteger(dkLen) || dkLen < 1 || dkLen > 1024) throw new ScryptError(`scrypt key length must be from 1 to 1024 bytes, not ${dkLen}`);
  const { N, r, p } = params;
  const blockWords = 32 * r;
  const sliceMs = opts.sliceMs ?? 12;

  const b = await pbkdf2Sha256(password, salt, p * 128 * r);
  let v: Uint32Array;
  try {
    v = new Uint32Array(blockWords * N);
  } catch {
    throw new ScryptError(`the browser would not give the ${Math.round((128 * N * r) / 2 ** 20)} MiB scrypt needs for these parameters (N=${N}, r=${r})`);
  }
  let x = new Uint32Array(blockWords);
  let y = new Uint32Array(blockWords);
  const scratch = new Uint32Array(16);
  const total = 2 * N * p;
  let done = 0;
  let sliceStart = performance.now();
  // Checked every few iterations only: reading the clock costs more than one BlockMix at r=1.
  const maybeYield = async () => {
    if ((++done & 63) !== 0 || performance.now() - sliceStart < sliceMs) return;
    opts.onProgress?.(done / total);
    await nextTask();
    sliceStart = performance.now();
  };

  for (let block = 0; block < p; block++) {
    x.set(wordsOf(b, block * 128 * r, blockWords));
    for (let i = 0; i < N; i++) {
      v.set(x, i * blockWords);
      blockMix(x, y, scratch, r);
      [x, y] = [y, x];
      await maybeYield();
    }
    const last = (2 * r - 1) * 16;
    for (let i = 0; i < N; i++) {
      // Integerify: the first word of the last 64-byte block, mod N (N is a power of two ≤ 2^32).
      const j = x[last]! & (N - 1);
      const at = j * blockWords;
      for (let k = 0; k < blockWords; k++) x[k]! ^= v[at + k]!;
      blockMix(x, y, scratch, r);
      [x, y] = [y, x];
      await maybeYield();
    }
    writeWords(x, b, block * 128 * r);
  }
  v.fill(0);
  opts.onProgress?.(1);
  return pbkdf2Sha256(password, b, dkLen);
}

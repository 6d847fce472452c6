/**
 * scrypt (RFC 7914) for the browser, which has no scrypt of its own: @noble/hashes' pure-JS
 * scrypt (no eval, so fine under the strict CSP), run async so a 32 MiB key derivation (the CLI's
 * N=2^15, r=8) hands the event loop back every few milliseconds and reports its progress. What is
 * ours is the bounds: parameters read from a key file are checked before any work is done.
 */
import { scryptAsync } from '@noble/hashes/scrypt.js';

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

/**
 * scrypt(password, salt, N, r, p, dkLen). Throws ScryptError when the parameters are outside
 * `limits` or the browser will not give the 128·N·r bytes it needs.
 */
export async function scrypt(password: Uint8Array, salt: Uint8Array, params: ScryptParams, dkLen: number, opts: ScryptOptions = {}): Promise<Uint8Array> {
  const problem = scryptParamsProblem(params, opts.limits ?? KEY_FILE_SCRYPT_LIMITS);
  if (problem) throw new ScryptError(problem);
  if (!Number.isInteger(dkLen) || dkLen < 1 || dkLen > 1024) throw new ScryptError(`scrypt key length must be from 1 to 1024 bytes, not ${dkLen}`);
  const { N, r, p } = params;
  // The bounds above are the real limit; noble's own maxmem (1 GiB) would refuse N=2^20, r=16.
  const maxmem = 128 * r * (N + p + 1) + 2 ** 20;
  let dk: Uint8Array;
  try {
    dk = await scryptAsync(password, salt, {
      N,
      r,
      p,
      dkLen,
      maxmem,
      asyncTick: opts.sliceMs ?? 12,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
  } catch (err) {
    if (err instanceof RangeError)
      throw new ScryptError(`the browser would not give the ${Math.round((128 * N * r) / 2 ** 20)} MiB scrypt needs for these parameters (N=${N}, r=${r})`);
    throw err;
  }
  opts.onProgress?.(1);
  return dk;
}

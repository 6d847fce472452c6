/**
 * Small deterministic randomness of our own for the simulator: a seeded generator for one-off
 * choices, and value noise that is a pure function of (key, time), so a simulated reading at a
 * given clock time is the same no matter how often or in what order it is asked for.
 */

/** FNV-1a over the UTF-16 code units of a string: a stable 32-bit key. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Mixes two 32-bit integers into one well-scrambled 32-bit integer (murmur3's finalizer). */
export function mix32(a: number, b: number): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform number in [0, 1) determined by the key and the step. */
export function unitHash(key: number, step: number): number {
  // Steps can exceed 2^32 for ms-based lattices; fold the high part in.
  const hi = Math.floor(step / 0x100000000);
  return mix32(mix32(key, step >>> 0), hi) / 0x100000000;
}

/** mulberry32: a tiny seeded generator of uniform numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Smooth value noise in [0, 1): random values on a lattice every `periodMs`, joined with a
 * smoothstep curve. Neighbouring times give neighbouring values; it wanders like a random walk
 * bounded to [0, 1).
 */
export function smoothNoise(key: number, timeMs: number, periodMs: number): number {
  const x = timeMs / periodMs;
  const i = Math.floor(x);
  const f = x - i;
  const s = f * f * (3 - 2 * f);
  const a = unitHash(key, i);
  const b = unitHash(key, i + 1);
  return a + (b - a) * s;
}

export function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : Math.min(v, hi);
}

/**
 * GPU readings are kept in 16 bits each: at 10,000 nodes x 8 GPUs x 11 series x 1 h at 10 s,
 * Float32 needed 1.4 GB and broke the 1.5 GB server target; 16 bits halve that. Each column
 * has a fixed scale chosen so its real range fits below 0xFFFF with the resolution a chart
 * needs. Exact values stay in `latest()` and in Prometheus.
 */
export const NO_VALUE = 0xffff;
const MAX = 0xfffe;
const MIB4 = 4 * 2 ** 20;

/** value = stored / scale. Column order is GPU_SERIES'. */
export const GPU_COLUMN_SCALES: readonly number[] = [
  100, // gpu_util_pct: 0.01 % steps
  100, // mem_copy_util_pct
  1 / MIB4, // fb_used_bytes: 4 MiB steps, up to 256 GiB
  1 / MIB4, // fb_total_bytes
  10, // gpu_temp_c: 0.1 °C steps, up to 6,553 °C
  10, // power_w: 0.1 W steps, up to 6,553 W
  1, // sm_clock_mhz
  1, // mem_clock_mhz
  100, // fan_pct
  1, // ecc_corrected_volatile: saturates at 65,534 (the health engine sees the exact counter)
  1, // ecc_uncorrected_volatile
];

/** Packs a reading; NaN, infinities and negatives are "no value", large values saturate. */
export function pack(value: number, scale: number): number {
  if (!(value >= 0) || value === Infinity) return NO_VALUE;
  const v = Math.round(value * scale);
  return Math.min(v, MAX);
}

export function unpack(stored: number, scale: number): number | null {
  return stored === NO_VALUE ? null : stored / scale;
}

export function packedBlock(columns: number, capacity: number): Uint16Array {
  return new Uint16Array(columns * capacity).fill(NO_VALUE);
}

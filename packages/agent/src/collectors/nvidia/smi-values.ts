import { THROTTLE_REASONS, type ThrottleReason } from '@gpufleet/protocol';

/**
 * How nvidia-smi writes values, in one place for the XML, `-q` text and CSV parsers: the many
 * ways of saying "no value", numbers with units, Yes/No, Enabled/Disabled, Active/Not Active,
 * and the clocks-event (throttle) reasons.
 */

const MIB = 1024 * 1024;

/** Texts that mean "no value" (CSV wraps them in brackets: `[N/A]`, `[Not Supported]`). */
const NO_VALUE = new Set([
  '',
  'n/a',
  'na',
  'not supported',
  'unknown',
  'unknown error',
  'requested functionality has been deprecated',
  'not available',
  'insufficient permissions',
  'gpu requires reset',
  'no data',
]);

/** The value trimmed, or null when nvidia-smi says there is none. Any fully bracketed CSV value is "none" too. */
export function cleanValue(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) return null;
  const text = raw.trim();
  // nvidia-smi brackets every unavailable CSV value ([N/A], [GPU requires reset], ...).
  if (text.startsWith('[') && text.endsWith(']')) return null;
  return NO_VALUE.has(text.toLowerCase()) ? null : text;
}

interface Quantity {
  value: number;
  unit: string;
}

/** `81559 MiB` -> { 81559, 'MiB' }, `45 %` -> { 45, '%' }, `100.00%` -> { 100, '%' }, `7` -> { 7, '' }. */
export function parseQuantity(raw: string | null | undefined): Quantity | null {
  const text = cleanValue(raw);
  if (text === null) return null;
  const m = /^([-+]?\d+(?:\.\d+)?)\s*([A-Za-z%]*)$/.exec(text);
  if (!m) return null;
  const value = Number(m[1]);
  return Number.isFinite(value) ? { value, unit: m[2]! } : null;
}

/** A quantity in one of the accepted units (or unit-less, then `defaultUnit`), scaled by that unit's factor. */
function scaled(raw: string | null | undefined, factors: Record<string, number>, defaultUnit: string): number | null {
  const q = parseQuantity(raw);
  if (!q) return null;
  const factor = factors[q.unit === '' ? defaultUnit : q.unit];
  return factor === undefined ? null : q.value * factor;
}

/** Memory in bytes; nvidia-smi reports MiB (unit-less CSV values are taken as `defaultUnit`). */
export function bytesOf(raw: string | null | undefined, defaultUnit = 'MiB'): number | null {
  const bytes = scaled(raw, { B: 1, KiB: 1024, MiB: MIB, GiB: 1024 * MIB }, defaultUnit);
  return bytes === null ? null : Math.round(bytes);
}

export function wattsOf(raw: string | null | undefined): number | null {
  return scaled(raw, { W: 1, mW: 0.001 }, 'W');
}

export function celsiusOf(raw: string | null | undefined): number | null {
  return scaled(raw, { C: 1 }, 'C');
}

export function mhzOf(raw: string | null | undefined): number | null {
  return scaled(raw, { MHz: 1, GHz: 1000 }, 'MHz');
}

/** Percent 0-100; anything outside that range is not a percentage we trust, so null. */
export function percentOf(raw: string | null | undefined): number | null {
  const pct = scaled(raw, { '%': 1 }, '%');
  return pct !== null && pct >= 0 && pct <= 100 ? pct : null;
}

/** A non-negative whole-number counter (ECC errors, retired pages, remapped rows). */
export function countOf(raw: string | null | undefined): number | null {
  const q = parseQuantity(raw);
  return q && q.unit === '' && Number.isSafeInteger(q.value) && q.value >= 0 ? q.value : null;
}

/** Yes/No (also True/False, Active/Not Active is separate) -> boolean. */
export function yesNoOf(raw: string | null | undefined): boolean | null {
  const text = cleanValue(raw)?.toLowerCase();
  if (text === 'yes' || text === 'true') return true;
  if (text === 'no' || text === 'false') return false;
  return null;
}

export function enabledOf(raw: string | null | undefined): 'enabled' | 'disabled' | null {
  const text = cleanValue(raw)?.toLowerCase();
  if (text === 'enabled') return 'enabled';
  if (text === 'disabled') return 'disabled';
  return null;
}

/** `Active` / `Not Active` -> boolean. */
export function activeOf(raw: string | null | undefined): boolean | null {
  const text = cleanValue(raw)?.toLowerCase();
  if (text === 'active') return true;
  if (text === 'not active') return false;
  return null;
}

/** Sum of the counters that are known; null when none is. */
export function sumKnown(values: ReadonlyArray<number | null>): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : known.reduce((a, b) => a + b, 0);
}

/** Lower case, letters and digits only: `SRAM Uncorrectable SEC-DED` and `sram_uncorrectable_secded` meet. */
export function slug(label: string): string {
  return label.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/**
 * Reason names as nvidia-smi spells them in XML (`clocks_event_reason_gpu_idle`,
 * `clocks_throttle_reason_display_clocks_setting`), `-q` text (`Idle`, `Display Clock Setting`)
 * and CSV (`clocks_event_reasons.sw_power_cap`), slugged, prefixes removed.
 */
const REASON_BY_SLUG: Record<string, ThrottleReason> = {
  idle: 'gpu_idle',
  gpuidle: 'gpu_idle',
  applicationsclockssetting: 'applications_clocks_setting',
  swpowercap: 'sw_power_cap',
  hwslowdown: 'hw_slowdown',
  hwthermalslowdown: 'hw_thermal_slowdown',
  hwpowerbrakeslowdown: 'hw_power_brake_slowdown',
  syncboost: 'sync_boost',
  swthermalslowdown: 'sw_thermal_slowdown',
  displayclocksetting: 'display_clock_setting',
  displayclockssetting: 'display_clock_setting',
};

/** The protocol's name for one clocks-event reason label, or null for one we do not track. */
export function throttleReasonOf(label: string): ThrottleReason | null {
  // Strip the prefix before slugging: slugged, `..._reason_sw_power_cap` would lose the `s` of `sw`.
  const key = slug(
    label
      .trim()
      .toLowerCase()
      .replace(/^clocks_(event|throttle)_reasons?[._]/, ''),
  );
  return Object.hasOwn(REASON_BY_SLUG, key) ? REASON_BY_SLUG[key]! : null;
}

/** NVIDIA's clocks-event reason bits (nvml.h nvmlClocksEventReason*). */
const REASON_BITS: ReadonlyArray<readonly [bigint, ThrottleReason]> = [
  [0x1n, 'gpu_idle'],
  [0x2n, 'applications_clocks_setting'],
  [0x4n, 'sw_power_cap'],
  [0x8n, 'hw_slowdown'],
  [0x10n, 'sync_boost'],
  [0x20n, 'sw_thermal_slowdown'],
  [0x40n, 'hw_thermal_slowdown'],
  [0x80n, 'hw_power_brake_slowdown'],
  [0x100n, 'display_clock_setting'],
];

/** `0x0000000000000041` -> ['gpu_idle', 'hw_thermal_slowdown']; null when the value is not a bitmask. */
export function throttleReasonsOfMask(raw: string | null | undefined): ThrottleReason[] | null {
  const text = cleanValue(raw);
  if (text === null || !/^0x[0-9a-f]{1,16}$/i.test(text)) return null;
  const mask = BigInt(text);
  return sortReasons(REASON_BITS.filter(([bit]) => (mask & bit) !== 0n).map(([, reason]) => reason));
}

/** Deduplicated, in the protocol's order, so equal sets compare equal. */
export function sortReasons(reasons: Iterable<ThrottleReason>): ThrottleReason[] {
  const set = new Set(reasons);
  return THROTTLE_REASONS.filter((r) => set.has(r));
}

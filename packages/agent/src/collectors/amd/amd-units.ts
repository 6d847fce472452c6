/**
 * Reading AMD tool values: amd-smi writes a reading as a plain number, as "N/A", as a string
 * with its unit ("550 W") or as `{ "value": 42, "unit": "W" }`; rocm-smi writes strings.
 * These helpers turn any of those into the project's fixed units, or null.
 */

/** A number with the unit the tool gave it (null when the tool gave none). */
export interface Quantity {
  value: number;
  unit: string | null;
}

// Placeholders the tools print where a reading is unavailable.
const MISSING = new Set(['', 'n/a', 'na', 'none', 'null', '-', 'unknown', 'not supported']);

const NUMBER_WITH_UNIT = /^\s*\(?\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*([a-zµ°%/]+)?\s*\)?\s*$/i;

/** Whether a raw value is one of the tools' "no value" placeholders. */
export function isMissing(raw: unknown): boolean {
  return raw === null || raw === undefined || (typeof raw === 'string' && MISSING.has(raw.trim().toLowerCase()));
}

/** A plain object, or null for anything else (arrays included). */
export function asRecord(raw: unknown): Record<string, unknown> | null {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : null;
}

/** A trimmed string, or null for placeholders and non-strings. */
export function asText(raw: unknown): string | null {
  if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
  if (typeof raw !== 'string' || isMissing(raw)) return null;
  return raw.trim();
}

/** Reads a number with an optional unit from any of the shapes above. */
export function readQuantity(raw: unknown): Quantity | null {
  if (typeof raw === 'number') return Number.isFinite(raw) ? { value: raw, unit: null } : null;
  if (typeof raw === 'string') {
    if (isMissing(raw)) return null;
    const m = NUMBER_WITH_UNIT.exec(raw);
    if (!m) return null;
    const value = Number(m[1]);
    return Number.isFinite(value) ? { value, unit: m[2] ?? null } : null;
  }
  const obj = asRecord(raw);
  if (obj && 'value' in obj) {
    const inner = readQuantity(obj.value);
    if (!inner) return null;
    const unit = typeof obj.unit === 'string' && obj.unit.trim() !== '' ? obj.unit.trim() : inner.unit;
    return { value: inner.value, unit };
  }
  return null;
}

function convert(raw: unknown, defaultUnit: string, factors: Record<string, number>): number | null {
  const q = readQuantity(raw);
  if (!q) return null;
  const factor = factors[(q.unit ?? defaultUnit).toLowerCase()];
  // An unknown unit is not guessed at: a wrong number is worse than none.
  return factor === undefined ? null : q.value * factor;
}

// amd-smi divides byte counts by 1024 and labels the result "MB" (and so does npu-smi):
// every memory unit here is binary, whatever its label says.
const BYTE_FACTORS: Record<string, number> = {
  b: 1,
  kb: 2 ** 10,
  kib: 2 ** 10,
  mb: 2 ** 20,
  mib: 2 ** 20,
  gb: 2 ** 30,
  gib: 2 ** 30,
  tb: 2 ** 40,
  tib: 2 ** 40,
};
const WATT_FACTORS: Record<string, number> = { w: 1, mw: 1e-3, uw: 1e-6, µw: 1e-6, kw: 1e3 };
const CELSIUS_FACTORS: Record<string, number> = { c: 1, '°c': 1, degc: 1, celsius: 1 };
const MHZ_FACTORS: Record<string, number> = { mhz: 1, ghz: 1e3, khz: 1e-3, hz: 1e-6 };
const PERCENT_FACTORS: Record<string, number> = { '%': 1, pct: 1, percent: 1 };

/** Bytes; a unitless number is taken to be in `defaultUnit`. */
export function toBytes(raw: unknown, defaultUnit = 'B'): number | null {
  const bytes = convert(raw, defaultUnit, BYTE_FACTORS);
  return bytes === null ? null : Math.round(bytes);
}

/** Watts; a unitless number is taken to be watts. */
export function toWatts(raw: unknown): number | null {
  return convert(raw, 'W', WATT_FACTORS);
}

/** Degrees Celsius; a unitless number is taken to be °C. */
export function toCelsius(raw: unknown): number | null {
  return convert(raw, 'C', CELSIUS_FACTORS);
}

/** MHz; a unitless number is taken to be MHz. */
export function toMhz(raw: unknown): number | null {
  return convert(raw, 'MHz', MHZ_FACTORS);
}

/** Percent 0-100; a unitless number is taken to be percent. */
export function toPercent(raw: unknown): number | null {
  return convert(raw, '%', PERCENT_FACTORS);
}

/** A non-negative whole count (error counters), or null. */
export function toCount(raw: unknown): number | null {
  const q = readQuantity(raw);
  return q && Number.isInteger(q.value) && q.value >= 0 ? q.value : null;
}

/** The first argument that is not null (readings tried in order of preference). */
export function firstOf<T>(...values: (T | null)[]): T | null {
  for (const v of values) if (v !== null) return v;
  return null;
}

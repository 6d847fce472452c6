/**
 * Human units of the job file (issue 10): durations such as `500ms`, `10s`, `1h30m` and sizes
 * such as `40GiB`, `512MiB`, `80GB` (or a plain number of bytes). Each parser answers the value
 * or a sentence that says what was wrong, so the job file parser can put it after the line and
 * field it came from.
 */

export type UnitResult = { ok: true; value: number } | { ok: false; message: string };

/** The longest duration a job file may give (the normalized spec's limit). */
export const MAX_JOB_DURATION_MS = 30 * 86_400_000;

const DURATION_UNITS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
type DurationUnit = keyof typeof DURATION_UNITS;
const DURATION_ORDER: readonly DurationUnit[] = ['d', 'h', 'm', 's', 'ms'];

function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `'${text.length > 40 ? `${text.slice(0, 40)}…` : text}'`;
}

/** `90s`, `1h30m` and the like: whole numbers, units from largest to smallest, each once. */
export function parseJobDuration(value: unknown): UnitResult {
  if (typeof value === 'number') {
    return { ok: false, message: `${quote(value)} needs a unit: 500ms, 10s, 2m, 1h or 1d` };
  }
  if (typeof value !== 'string') return { ok: false, message: 'expected a duration such as 10s or 2m' };
  const bad = { ok: false as const, message: `${quote(value)} is not a duration such as 500ms, 10s, 2m, 1h or 1d` };
  if (value === '' || value.length > 64) return bad;
  const parts = [...value.matchAll(/(\d{1,9})(ms|s|m|h|d)/gy)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) return bad;
  let total = 0;
  let last = -1;
  for (const [, digits, unit] of parts) {
    const rank = DURATION_ORDER.indexOf(unit as DurationUnit);
    // `1m1h` or `5s5s` is more likely a typo than a sum anyone meant.
    if (rank <= last) return { ok: false, message: `${quote(value)}: write the units from the largest to the smallest, each once (such as 1h30m)` };
    last = rank;
    total += Number(digits) * DURATION_UNITS[unit as DurationUnit];
  }
  if (total > MAX_JOB_DURATION_MS) return { ok: false, message: `${quote(value)} is longer than the 30d limit` };
  return { ok: true, value: total };
}

const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  kB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  PB: 1e15,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
  PiB: 2 ** 50,
};

// Spellings people reach for that mean something else (bits) or are ambiguous: answer with the byte unit.
const SIZE_HINTS: Record<string, string> = {
  k: 'KiB',
  ki: 'KiB',
  kib: 'KiB',
  m: 'MiB',
  mi: 'MiB',
  mib: 'MiB',
  g: 'GiB',
  gi: 'GiB',
  gib: 'GiB',
  t: 'TiB',
  ti: 'TiB',
  tib: 'TiB',
  kb: 'KiB',
  mb: 'MiB',
  gb: 'GiB',
  tb: 'TiB',
};

/** A size as a job file writes it: `40GiB`, `512 MiB`, `1.5TiB`, `80GB`, or a whole number of bytes. */
export function parseJobSize(value: unknown): UnitResult {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) return { ok: false, message: `${quote(value)} is not a size: a whole number of bytes, or such as 40GiB` };
    return { ok: true, value };
  }
  if (typeof value !== 'string') return { ok: false, message: 'expected a size such as 40GiB or 512MiB' };
  const bad = `${quote(value)} is not a size such as 40GiB or 512MiB`;
  const m = /^(\d{1,16}(?:\.\d{1,9})?) ?([A-Za-z]{1,3})?$/.exec(value);
  if (!m) return { ok: false, message: bad };
  const [, number, unit] = m;
  if (unit === undefined) {
    // Quoted digits: the number of bytes, as a plain number would be.
    return number!.includes('.') ? { ok: false, message: bad } : checkBytes(Number(number), value);
  }
  const factor = SIZE_UNITS[unit];
  if (factor === undefined) {
    const hint = SIZE_HINTS[unit.toLowerCase()];
    return { ok: false, message: hint ? `${bad} (did you mean ${number}${hint}?)` : bad };
  }
  return checkBytes(Math.round(Number(number) * factor), value);
}

function checkBytes(bytes: number, text: string): UnitResult {
  if (!Number.isSafeInteger(bytes)) return { ok: false, message: `${quote(text)} is too large` };
  return { ok: true, value: bytes };
}

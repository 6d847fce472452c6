/** Human units for tables: binary bytes, °C, W, %, relative times, bars. Null prints as "-". */

const NONE = '-';
const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

function isNum(n: number | null | undefined): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

/** One decimal below 100 (79.6 GiB), none above (512 GiB); a trailing ".0" is dropped. */
function trimNumber(value: number): string {
  const text = value < 100 ? value.toFixed(1) : value.toFixed(0);
  return text.replace(/\.0$/, '');
}

function byteUnit(n: number): number {
  let i = 0;
  while (i < BYTE_UNITS.length - 1 && Math.abs(n) >= 1024 ** (i + 1)) i++;
  return i;
}

export function formatBytes(n: number | null | undefined): string {
  if (!isNum(n)) return NONE;
  const i = byteUnit(n);
  return `${trimNumber(n / 1024 ** i)} ${BYTE_UNITS[i]}`;
}

/** "12.3/79.6 GiB": both in the total's unit so the pair reads at a glance. */
export function formatBytesPair(used: number | null | undefined, total: number | null | undefined): string {
  if (!isNum(total)) return isNum(used) ? `${formatBytes(used)}/?` : NONE;
  const i = byteUnit(total);
  const u = isNum(used) ? trimNumber(used / 1024 ** i) : '?';
  return `${u}/${trimNumber(total / 1024 ** i)} ${BYTE_UNITS[i]}`;
}

export function formatPct(n: number | null | undefined): string {
  return isNum(n) ? `${Math.round(n)}%` : NONE;
}

export function formatTemp(n: number | null | undefined): string {
  return isNum(n) ? `${Math.round(n)}°C` : NONE;
}

export function formatWatts(n: number | null | undefined, limit?: number | null): string {
  if (!isNum(n)) return NONE;
  return isNum(limit) ? `${Math.round(n)}/${Math.round(limit)} W` : `${Math.round(n)} W`;
}

// Units of relativeTime: each is shown while the rounded count stays below `below`.
const SPANS = [
  { ms: 1000, unit: 's', below: 60 },
  { ms: 60_000, unit: 'm', below: 60 },
  { ms: 3_600_000, unit: 'h', below: 24 },
  { ms: 86_400_000, unit: 'd', below: Number.POSITIVE_INFINITY },
] as const;

/** A span as "42s", "3m", "5h", "2d": rounded to the nearest unit and carried over, never down (23h59m55s is 1d). */
export function formatSpan(ms: number): string {
  const abs = Math.abs(ms);
  for (const s of SPANS) {
    const n = Math.round(abs / s.ms);
    if (n < s.below) return `${n}${s.unit}`;
  }
  return `${Math.round(abs / 86_400_000)}d`;
}

/** "just now", "42s ago", "3m ago", "5h ago", "2d ago"; future times as "in 1d"; null as "never". */
export function relativeTime(iso: string | number | null | undefined, now: number): string {
  if (iso === null || iso === undefined || iso === '') return 'never';
  const at = typeof iso === 'number' ? iso : Date.parse(iso);
  if (!Number.isFinite(at)) return NONE;
  const diff = now - at;
  if (Math.abs(diff) < 5_000) return 'just now';
  const text = formatSpan(diff);
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** A bar of `width` cells filled to `pct` (0–100, clamped); unknown values show an empty bar. */
export function bar(pct: number | null | undefined, width: number): string {
  const w = Math.max(0, Math.floor(width));
  if (!isNum(pct)) return '·'.repeat(w);
  const filled = Math.round((Math.min(100, Math.max(0, pct)) / 100) * w);
  return '█'.repeat(filled) + '░'.repeat(w - filled);
}

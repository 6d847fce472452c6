/** Formatters that turn raw API numbers into text for people. Null and garbage read as "—". */

export const DASH = '—';

function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Bytes in binary units: 1536 -> "1.5 KiB", 85899345920 -> "80 GiB". */
export function formatBytes(bytes: number | null | undefined): string {
  if (!finite(bytes) || bytes < 0) return DASH;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  // One decimal below 10, none above: "1.5 GiB", "80 GiB".
  const text = i === 0 ? String(Math.round(v)) : v < 10 ? v.toFixed(1).replace(/\.0$/, '') : String(Math.round(v));
  return `${text} ${units[i]}`;
}

/** Used of total as "12 / 80 GiB" in the total's unit. */
export function formatBytesOf(used: number | null | undefined, total: number | null | undefined): string {
  if (!finite(total) || total <= 0) return formatBytes(used);
  if (!finite(used)) return `${DASH} / ${formatBytes(total)}`;
  const gib = 1024 ** 3;
  if (total >= gib) return `${(used / gib).toFixed(used / gib < 10 ? 1 : 0)} / ${formatBytes(total)}`;
  return `${formatBytes(used)} / ${formatBytes(total)}`;
}

/** Used of total with both units and the share: "9.5 GiB of 64 GiB (15%)". */
export function formatBytesUsage(used: number | null | undefined, total: number | null | undefined): string {
  if (!finite(total) || total <= 0) return formatBytes(used);
  if (!finite(used) || used < 0) return `${DASH} of ${formatBytes(total)}`;
  return `${formatBytes(used)} of ${formatBytes(total)} (${formatPct((used / total) * 100)})`;
}

export function formatPct(v: number | null | undefined): string {
  return finite(v) ? `${Math.round(v)}%` : DASH;
}

export function formatTemp(v: number | null | undefined): string {
  return finite(v) ? `${Math.round(v)} °C` : DASH;
}

/** Watts, in kW from 10 kW up (a fleet's draw). */
export function formatWatts(v: number | null | undefined): string {
  if (!finite(v)) return DASH;
  if (Math.abs(v) >= 10_000) return `${(v / 1000).toFixed(1)} kW`;
  return `${Math.round(v)} W`;
}

/** Milliseconds as "850 ms", "12 s", "3 min 5 s", "2 h 10 min", "3 d 4 h". */
export function formatDuration(ms: number | null | undefined): string {
  if (!finite(ms) || ms < 0) return DASH;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

function toMs(t: string | number | null | undefined): number | null {
  if (t === null || t === undefined) return null;
  const ms = typeof t === 'number' ? t : Date.parse(t);
  return Number.isFinite(ms) ? ms : null;
}

/** "just now", "5 s ago", "3 min ago", "2 h ago", "4 d ago"; "in 5 min" for the future. */
export function formatRelative(t: string | number | null | undefined, now: number): string {
  const ms = toMs(t);
  if (ms === null) return DASH;
  const diff = now - ms;
  const abs = Math.abs(diff);
  if (abs < 5000) return 'just now';
  let text: string;
  if (abs < 60_000) text = `${Math.floor(abs / 1000)} s`;
  else if (abs < 3_600_000) text = `${Math.floor(abs / 60_000)} min`;
  else if (abs < 86_400_000) text = `${Math.floor(abs / 3_600_000)} h`;
  else text = `${Math.floor(abs / 86_400_000)} d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** Absolute local time for hover titles: "2025-03-04 13:05:09". */
export function formatAbsolute(t: string | number | null | undefined): string {
  const ms = toMs(t);
  if (ms === null) return DASH;
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** "NVIDIA H100 80GB HBM3" -> "H100 80GB HBM3": the vendor is shown elsewhere. */
export function shortModel(name: string | null | undefined): string {
  if (!name) return 'unknown';
  return name.replace(/^(NVIDIA|AMD|Intel\(R\)|Intel|Huawei)\s+/i, '').trim() || name;
}

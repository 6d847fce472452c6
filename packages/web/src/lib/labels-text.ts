import { isLabelKey, isLabelValue } from './selector.js';

/** The result of reading `k=v,k2=v2`: the labels, or the first problem in words. */
export type LabelsParse = { ok: true; labels: Record<string, string> } | { ok: false; error: string };

/** Parses labels typed as `k=v,k2=v2` (blank means none), with the server's key/value rules. */
export function parseLabelsText(text: string): LabelsParse {
  const labels: Record<string, string> = {};
  const trimmed = text.trim();
  if (trimmed === '') return { ok: true, labels };
  for (const part of trimmed.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) return { ok: false, error: `'${item}' is not key=value` };
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (!isLabelKey(key)) return { ok: false, error: `'${key}' is not a valid label key` };
    if (!isLabelValue(value)) return { ok: false, error: `'${value}' is not a valid label value` };
    if (key in labels) return { ok: false, error: `label '${key}' is given twice` };
    labels[key] = value;
  }
  if (Object.keys(labels).length > 64) return { ok: false, error: 'at most 64 labels' };
  return { ok: true, labels };
}

/** Labels back to `k=v,k2=v2`, keys sorted. */
export function labelsToText(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

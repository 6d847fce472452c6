import { isLabelKey, isLabelValue, parseSelector, formatSelector, parseDurationMs, NODE_STATUSES, type NodeStatus } from '@gpufleet/protocol';
import { UsageError } from './errors.js';

/** Label edits from `k=v` (set) and `k-` (remove) words, as in `kubectl label`. */
export function parseLabelEdits(words: readonly string[]): { set: Record<string, string>; remove: string[] } {
  const set: Record<string, string> = {};
  const remove: string[] = [];
  for (const word of words) {
    if (word.endsWith('-') && !word.includes('=')) {
      const key = word.slice(0, -1);
      if (!isLabelKey(key)) throw new UsageError(`'${key}' is not a valid label key (letters, digits, . _ / -)`);
      remove.push(key);
      continue;
    }
    const eq = word.indexOf('=');
    if (eq <= 0) throw new UsageError(`'${word}' is neither key=value (set a label) nor key- (remove one)`);
    const [key, value] = [word.slice(0, eq), word.slice(eq + 1)];
    if (!isLabelKey(key)) throw new UsageError(`'${key}' is not a valid label key (letters, digits, . _ / -)`);
    if (!isLabelValue(value)) throw new UsageError(`'${value}' is not a valid label value for ${key} (letters, digits, . _ : / + -)`);
    if (remove.includes(key)) throw new UsageError(`label ${key} is both set and removed`);
    set[key] = value;
  }
  if (Object.keys(set).length === 0 && remove.length === 0) throw new UsageError('give at least one label: key=value to set, key- to remove');
  return { set, remove };
}

/** Labels from `--labels k=v,k2=v2` and repeated `--label k=v`. */
export function parseLabelMap(lists: readonly string[]): Record<string, string> {
  const words = lists
    .flatMap((l) => l.split(','))
    .map((w) => w.trim())
    .filter(Boolean);
  if (words.some((w) => !w.includes('='))) {
    const badWord = words.find((w) => !w.includes('='))!;
    throw new UsageError(`label '${badWord}' must be key=value`);
  }
  return words.length === 0 ? {} : parseLabelEdits(words).set;
}

/** A label selector checked here, so a typo is a usage error before any request. */
export function checkSelector(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  return formatSelector(parseSelector(text)) || undefined;
}

export function checkStatus(text: string | undefined): NodeStatus | undefined {
  if (text === undefined) return undefined;
  const up = text.toUpperCase();
  if (!(NODE_STATUSES as readonly string[]).includes(up)) throw new UsageError(`status '${text}' is not one of ${NODE_STATUSES.join(', ')}`);
  return up as NodeStatus;
}

/** A duration such as 90s, 15m, 24h, 7d. */
export function checkDuration(text: string, what: string): string {
  try {
    parseDurationMs(text);
  } catch {
    throw new UsageError(`${what} '${text}' is not a duration such as 90s, 15m, 24h or 7d`);
  }
  return text.trim();
}

/** A whole number in a range, for commander option parsers. */
export function intOption(what: string, min: number, max: number): (text: string) => number {
  return (text) => {
    const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${what} '${text}' must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

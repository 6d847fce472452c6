/**
 * Pieces of the Prometheus text exposition format 0.0.4: escaping, number formatting and
 * family headers. Built for speed: no regular expressions, no per-line objects.
 */

export type MetricType = 'gauge' | 'counter' | 'histogram' | 'untyped';

/** Escapes a label value: backslash, double quote and line feed (the only escapes 0.0.4 knows). */
export function escapeLabelValue(value: string): string {
  let i = 0;
  for (; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x5c || c === 0x22 || c === 0x0a) break;
  }
  if (i === value.length) return value; // the common case: nothing to escape, no copy
  let out = value.slice(0, i);
  for (; i < value.length; i++) {
    const ch = value[i]!;
    out += ch === '\\' ? '\\\\' : ch === '"' ? '\\"' : ch === '\n' ? '\\n' : ch;
  }
  return out;
}

/** Escapes HELP text: backslash and line feed (quotes stay as they are there). */
export function escapeHelp(text: string): string {
  let out = '';
  for (const ch of text) out += ch === '\\' ? '\\\\' : ch === '\n' ? '\\n' : ch;
  return out;
}

/** A sample value in Go's float syntax, or null where there is nothing to report. */
export function formatValue(value: number | null | undefined): string | null {
  if (typeof value !== 'number' || Number.isNaN(value)) return null;
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/** `# HELP` and `# TYPE` lines of a family. */
export function familyHeader(name: string, type: MetricType, help: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}

/**
 * A label name Prometheus accepts (`[a-zA-Z_][a-zA-Z0-9_]*`) from arbitrary text: other
 * characters become `_`, and a leading digit gets a `_` in front.
 */
export function sanitizeLabelName(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || (c >= 0x30 && c <= 0x39);
    out += ok ? raw[i] : '_';
  }
  const first = out.charCodeAt(0);
  return out === '' || (first >= 0x30 && first <= 0x39) ? `_${out}` : out;
}

/** `{a="x",b="y"}` from name/value pairs (values escaped here). */
export function labelBlock(pairs: ReadonlyArray<readonly [string, string]>): string {
  if (pairs.length === 0) return '';
  let out = '{';
  for (let i = 0; i < pairs.length; i++) {
    if (i > 0) out += ',';
    out += `${pairs[i]![0]}="${escapeLabelValue(pairs[i]![1])}"`;
  }
  return `${out}}`;
}

/**
 * Lines of one family (header plus samples), built by appending to an array. `flush` hands
 * over what is pending so a large family can be sent in several chunks.
 */
export class FamilyWriter {
  private lines: string[] = [];

  constructor(
    readonly name: string,
    type: MetricType,
    help: string,
  ) {
    this.lines.push(familyHeader(name, type, help).slice(0, -1));
  }

  /** Lines waiting for flush. */
  get pending(): number {
    return this.lines.length;
  }

  /** Adds `name{labels} value`; a null/NaN value adds nothing. `labels` is a labelBlock string. */
  sample(labels: string, value: number | null | undefined, suffix = ''): void {
    const v = formatValue(value);
    if (v !== null) this.lines.push(`${this.name}${suffix}${labels} ${v}`);
  }

  /** The pending lines as text ending with a newline ('' when none), and a fresh start. */
  flush(): string {
    if (this.lines.length === 0) return '';
    const text = `${this.lines.join('\n')}\n`;
    this.lines = [];
    return text;
  }
}

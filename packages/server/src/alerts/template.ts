/**
 * Summary templates such as `GPU {{gpu}} on {{hostname}} at {{value}} °C`: `{{name}}` or
 * `{{labels.key}}` (a node label), nothing else (no logic, no escapes). Compiled once when the
 * rules load so a misspelt variable stops start-up instead of showing up in a page at 3 am.
 */

/** What a template may read when it renders. */
export type TemplateVars = Readonly<Record<string, string>>;

export interface Template {
  readonly source: string;
  render(vars: TemplateVars, labels: Readonly<Record<string, string>>): string;
}

type Part = { text: string } | { variable: string } | { label: string };

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/**
 * Compiles a template; `known` lists the variable names it may use. Throws an Error whose
 * message names the first unknown or malformed placeholder.
 */
export function compileTemplate(source: string, known: readonly string[]): Template {
  const parts: Part[] = [];
  let last = 0;
  for (const m of source.matchAll(PLACEHOLDER)) {
    if (m.index > last) parts.push({ text: source.slice(last, m.index) });
    const name = m[1]!;
    if (name.startsWith('labels.') && name.length > 7) parts.push({ label: name.slice(7) });
    else if (known.includes(name)) parts.push({ variable: name });
    else throw new Error(`unknown variable {{${name}}} (known: ${known.map((k) => `{{${k}}}`).join(', ')}, {{labels.<key>}})`);
    last = m.index + m[0].length;
  }
  if (last < source.length) parts.push({ text: source.slice(last) });
  const rest = parts
    .filter((p): p is { text: string } => 'text' in p)
    .map((p) => p.text)
    .join('');
  if (rest.includes('{{') || rest.includes('}}')) throw new Error('unbalanced {{ or }}');
  return {
    source,
    render(vars, labels) {
      let out = '';
      for (const p of parts) {
        if ('text' in p) out += p.text;
        else if ('variable' in p) out += vars[p.variable] ?? '';
        else out += labels[p.label] ?? '';
      }
      return out;
    },
  };
}

/** A reading as people want it in a message: at most two decimals, no trailing zeros. */
export function formatNumber(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '-';
  return String(Math.round(value * 100) / 100);
}

/** 90000 -> `1m30s`; for `for` durations and "offline for" texts. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.round(ms / 1000);
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', s ? `${s}s` : ''].join('') || '0s';
}

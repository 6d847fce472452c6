import Table from 'cli-table3';
import { stringify as toYaml } from 'yaml';
import type { CliIo } from './io.js';
import { UsageError } from './errors.js';

export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseOutputFormat(value: unknown): OutputFormat {
  const text = value === undefined ? 'table' : String(value);
  if (!(OUTPUT_FORMATS as readonly string[]).includes(text)) throw new UsageError(`output format '${text}' is not one of ${OUTPUT_FORMATS.join(', ')}`);
  return text as OutputFormat;
}

/** One table column: its header, how to read a row, and whether only `-o wide` shows it. */
export interface Column<T> {
  header: string;
  get: (row: T) => string;
  wide?: boolean;
  align?: 'left' | 'right';
}

export interface TableOptions {
  /** Terminal width to fit in; undefined means no limit (output piped to a file). */
  width?: number;
  wide?: boolean;
}

const GAP = 2;
const MIN_COL = 5;

// Borderless, kubectl-like: columns separated by spaces only.
const NO_BORDER = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '',
};

/** Display length (code points; the glyphs we print are all one cell wide). */
function len(text: string): number {
  return [...text].length;
}

// What a terminal acts on instead of printing: C0 controls, DEL, C1 controls (8-bit CSI/OSC),
// the bidirectional overrides that reorder a line (Trojan Source) and the Unicode line breaks.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * Text from hosts or the server (hostnames, labels, messages, GPU names) made safe to print on
 * a terminal as one line: every control character, escape sequence introducer, newline and
 * bidi override is shown escaped (`\x1b`, `\n`, `\u202e`), so a host cannot move the cursor,
 * recolor, retitle, rewrite earlier lines or forge extra rows. Plain text is returned as is.
 */
export function termSafe(text: string): string {
  return text.replace(CONTROL, escapeChar);
}

/** termSafe for text of several lines that we composed: newlines and tabs stay, every other control is escaped. */
export function termSafeText(text: string): string {
  return text.replace(CONTROL, (c) => (c === '\n' || c === '\t' ? c : escapeChar(c)));
}

// SGR (colors, bold): the one escape sequence a command's own output commonly and harmlessly has.
const SGR = /\u001b\[[0-9;]{0,32}m/y;

/**
 * A command's own output (run output bodies): the bytes the command wrote, raw when they do
 * not go to a terminal (`> file`, `| grep` keep exactly what ran); on a terminal, colors (SGR)
 * and tabs pass and every other control is escaped, so output from a host cannot take over the
 * operator's terminal (OSC 52 clipboard writes, title changes, cursor moves, screen clears).
 */
export function termSafeOutput(text: string, toTerminal: boolean): string {
  if (!toTerminal) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\u001b') {
      SGR.lastIndex = i;
      const m = SGR.exec(text);
      if (m) {
        out += m[0];
        i += m[0].length - 1;
        continue;
      }
    }
    out += c === '\t' || c === '\n' ? c : c.replace(CONTROL, escapeChar);
  }
  return out;
}

function clean(text: string): string {
  // A cell is one line of plain text: controls in server-provided text would break the grid or the terminal.
  return termSafe(text);
}

/**
 * Column widths (gap included) that fit in `width`: the widest columns give way first,
 * none below its header or MIN_COL, so a narrow terminal truncates long cells, not short ones.
 */
export function fitWidths(natural: number[], minimum: number[], width: number | undefined): number[] {
  const widths = [...natural];
  if (width === undefined) return widths;
  let total = widths.reduce((a, b) => a + b, 0);
  while (total > width) {
    let widest = -1;
    for (let i = 0; i < widths.length; i++) {
      if (widths[i]! > minimum[i]! && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
    }
    if (widest < 0) break;
    widths[widest]!--;
    total--;
  }
  return widths;
}

/** Renders rows as a borderless table that fits the width, truncating long cells with "…". */
export function renderTable<T>(columns: readonly Column<T>[], rows: readonly T[], opts: TableOptions = {}): string {
  const cols = columns.filter((c) => opts.wide || !c.wide);
  if (cols.length === 0) return '';
  const cells = rows.map((row) => cols.map((c) => clean(c.get(row))));
  // Every column carries its gap on the right (cli-table3 padding); the last one's is trimmed
  // away from each line, so the lines fit when the widths add up to width + GAP.
  const natural = cols.map((c, i) => Math.max(len(c.header), ...cells.map((r) => len(r[i]!))) + GAP);
  const minimum = cols.map((c, i) => Math.min(natural[i]!, Math.max(MIN_COL, Math.min(len(c.header), 12)) + GAP));
  const widths = fitWidths(natural, minimum, opts.width === undefined ? undefined : opts.width + GAP);
  const table = new Table({
    head: cols.map((c) => c.header),
    colWidths: widths,
    colAligns: cols.map((c) => c.align ?? 'left'),
    chars: NO_BORDER,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': GAP, compact: true },
    wordWrap: false,
  });
  for (const row of cells) table.push(row);
  return `${table
    .toString()
    .split('\n')
    .map((l) => l.replace(/\s+$/, ''))
    .join('\n')}\n`;
}

/** Pretty JSON or YAML of API data. */
export function renderData(data: unknown, format: 'json' | 'yaml'): string {
  if (format === 'json') return `${JSON.stringify(data, null, 2)}\n`;
  return toYaml(data, { lineWidth: 0 });
}

/** What a command shows: the raw data for json/yaml, and a table (or text) for people. */
export interface Printable<T> {
  data: unknown;
  columns?: readonly Column<T>[];
  rows?: readonly T[];
  /** Free text for people instead of a table (a node's detail view, a created token). */
  text?: (wide: boolean) => string;
  /** Shown instead of an empty table. */
  empty?: string;
}

export function print<T>(io: CliIo, format: OutputFormat, what: Printable<T>): void {
  if (format === 'json' || format === 'yaml') {
    io.out(renderData(what.data, format));
    return;
  }
  const wide = format === 'wide';
  if (what.text) {
    // Views escape each host-provided field; this catches any they missed (newlines are the view's own).
    io.out(termSafeText(what.text(wide)));
    return;
  }
  const rows = what.rows ?? [];
  if (rows.length === 0 && what.empty) {
    io.err(`${what.empty}\n`);
    return;
  }
  io.out(renderTable(what.columns ?? [], rows, { width: io.columns, wide }));
}

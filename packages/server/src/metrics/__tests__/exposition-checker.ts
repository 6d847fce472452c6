/**
 * A small, strict reader of the Prometheus text format 0.0.4 for tests: it throws on the
 * first line that breaks the format and returns the samples and families it read.
 */

export interface ParsedSample {
  name: string;
  /** Label pairs in the order written, values unescaped. */
  labels: Array<[string, string]>;
  value: number;
}

export interface ParsedFamily {
  name: string;
  type: string | null;
  help: string | null;
  samples: ParsedSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const VALUE = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]Inf|NaN)$/;

/** Reads one sample line (`name{a="x",b="y"} value [timestamp]`). `loose` allows spaces after commas. */
export function parseSampleLine(line: string, loose = false): ParsedSample {
  const nameMatch = METRIC_NAME.exec(line);
  if (!nameMatch) throw new Error(`bad metric name: ${line}`);
  const name = nameMatch[0];
  let at = name.length;
  const labels: Array<[string, string]> = [];
  if (line[at] === '{') {
    at++;
    while (line[at] !== '}') {
      if (loose) while (line[at] === ' ') at++;
      const ln = LABEL_NAME.exec(line.slice(at));
      if (!ln) throw new Error(`bad label name at ${at}: ${line}`);
      at += ln[0].length;
      if (line[at] !== '=' || line[at + 1] !== '"') throw new Error(`expected =" at ${at}: ${line}`);
      at += 2;
      let value = '';
      for (;;) {
        const ch = line[at];
        if (ch === undefined) throw new Error(`unterminated label value: ${line}`);
        if (ch === '\n') throw new Error(`raw newline in label value: ${line}`);
        if (ch === '"') break;
        if (ch === '\\') {
          const next = line[at + 1];
          if (next === '\\') value += '\\';
          else if (next === '"') value += '"';
          else if (next === 'n') value += '\n';
          else throw new Error(`bad escape \\${next} in: ${line}`);
          at += 2;
          continue;
        }
        value += ch;
        at++;
      }
      at++; // closing quote
      if (labels.some(([n]) => n === ln[0])) throw new Error(`label ${ln[0]} repeated: ${line}`);
      labels.push([ln[0], value]);
      if (line[at] === ',') at++;
      else if (line[at] !== '}') throw new Error(`expected , or } at ${at}: ${line}`);
    }
    at++;
  }
  if (line[at] !== ' ') throw new Error(`expected one space before the value: ${line}`);
  const rest = line.slice(at + 1).split(' ');
  if (rest.length > 2 || !VALUE.test(rest[0]!) || (rest[1] !== undefined && !/^-?\d+$/.test(rest[1]))) throw new Error(`bad value: ${line}`);
  const text = rest[0]!;
  const value = text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text);
  return { name, labels, value };
}

function familyOf(sampleName: string, families: Map<string, ParsedFamily>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sampleName.endsWith(suffix)) {
      const base = sampleName.slice(0, -suffix.length);
      if (families.get(base)?.type === 'histogram') return base;
    }
  }
  return sampleName;
}

/**
 * Checks a whole exposition: HELP and TYPE at most once per family and before its samples,
 * each family's samples contiguous, every line well formed, no duplicate series, newline at end.
 */
export function checkExposition(text: string): Map<string, ParsedFamily> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, ParsedFamily>();
  const closed = new Set<string>();
  const seriesSeen = new Set<string>();
  let current: string | null = null;
  const open = (name: string): ParsedFamily => {
    if (current !== name) {
      if (closed.has(name)) throw new Error(`family ${name} appears in two places`);
      if (current !== null) closed.add(current);
      current = name;
    }
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: null, help: null, samples: [] }));
    return f;
  };
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
      const [, kind, name, ...rest] = line.split(' ');
      if (!name || !METRIC_NAME.test(name)) throw new Error(`bad family name: ${line}`);
      const f = open(name);
      if (f.samples.length > 0) throw new Error(`${kind} after samples of ${name}`);
      if (kind === 'HELP') {
        if (f.help !== null) throw new Error(`HELP twice for ${name}`);
        f.help = rest.join(' ');
      } else {
        if (f.type !== null) throw new Error(`TYPE twice for ${name}`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest[0] ?? '') || rest.length !== 1) throw new Error(`bad TYPE: ${line}`);
        f.type = rest[0]!;
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    if (line.trim() === '') throw new Error('empty line');
    const sample = parseSampleLine(line);
    const series = `${sample.name}${JSON.stringify(sample.labels)}`;
    if (seriesSeen.has(series)) throw new Error(`duplicate series: ${line}`);
    seriesSeen.add(series);
    open(familyOf(sample.name, families)).samples.push(sample);
  }
  return families;
}

import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { FleetError } from './errors.js';
import type { UnitResult } from './job-units.js';

/**
 * Files people write in YAML (job files, pools files) read into a zod schema, with every problem
 * reported by line, column and field path (`pools.yaml:9:5: pools.training.cooldown: '10 m' is
 * not a duration such as 500ms, 10s, 2m, 1h or 1d`), so the CLI, the server's routes and the
 * dashboard all say the same thing. Each file kind brings its schema and its words.
 */

/** One problem of a file: where (1-based line and column), which field, and what is wrong. */
export interface YamlFileProblem {
  line: number;
  col: number;
  /** The field path (`allocations.web.resources.gpus`; empty for the file as a whole). */
  path: string;
  message: string;
}

/** What a kind of file is called and how it is checked. */
export interface YamlFileFormat {
  /** Its name in messages: `job file`, `pools file`. */
  noun: string;
  /** Its first fields, for "a job file is a map of fields (name, allocations, ...)". */
  topFields: string;
  maxBytes: number;
  /** The schema of the file as written: it tells "did you mean" which fields an object takes. */
  schema: z.ZodType;
  /** Names people reach for from other tools, and what this file calls them (fields and values). */
  misnames?: Record<string, string>;
  /** Changes the parsed document before it becomes data (a job file keeps argument text). */
  prepare?: (doc: Document) => void;
}

/**
 * Refuses the file with these zod issues. `toFilePath` turns an issue's path into the file's own
 * field path when the issues come from a later schema whose names differ (camelCase specs).
 */
export type ReportIssues = (issues: readonly z.core.$ZodIssue[], toFilePath?: (path: PropertyKey[]) => PropertyKey[]) => never;

/** Aliases a file may expand (yaml's guard against "billion laughs" documents). */
const MAX_ALIAS_COUNT = 100;

/**
 * A field written in human units (`10s`, `40GiB`): `parse` reads it, `fallback` stands in when it is
 * left out, and a value below `min` is refused with `minText` as the minimum people read.
 */
export function unitField(parse: (v: unknown) => UnitResult, fallback: number | undefined, min = 0, minText = '') {
  return z
    .unknown()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return fallback;
      const r = parse(value);
      if (!r.ok) {
        ctx.addIssue({ code: 'custom', message: r.message });
        return z.NEVER;
      }
      if (r.value < min) {
        ctx.addIssue({ code: 'custom', message: `'${String(value)}' is below the minimum of ${minText}` });
        return z.NEVER;
      }
      return r.value;
    });
}

// ---- messages ----

/** Edits (insert, delete, replace, swap two neighbours) between two words: `cuont` is one from `count`. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The field `word` most likely means, when one is close enough (`misnames`: known names from other tools). */
export function closestFieldOf(word: string, fields: readonly string[], misnames: Record<string, string> = {}): string | undefined {
  const lower = word.toLowerCase().replace(/-/g, '_');
  const exact = fields.find((f) => f === lower || f === misnames[lower]);
  if (exact) return exact;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const f of fields) {
    const d = editDistance(lower, f);
    if (d < bestDistance) [best, bestDistance] = [f, d];
  }
  if (best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3))) return best;
  // Half a name (`grace` for offline_grace, `memory_min` for gpu_memory_min), when only one field has it.
  const containing = lower.length >= 4 ? fields.filter((f) => f.includes(lower) || lower.includes(f)) : [];
  return containing.length === 1 ? containing[0] : undefined;
}

export function shownValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `'${text.length > 60 ? `${text.slice(0, 60)}…` : text}'`;
}

function described(value: unknown): string {
  if (value === null) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return `the text ${shownValue(value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `${value}`;
  return typeof value;
}

const EXPECTED: Record<string, string> = {
  string: 'text',
  number: 'a number',
  boolean: 'true or false',
  object: 'a map',
  array: 'a list',
  record: 'a map',
};

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, seg)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** One zod issue as a sentence a person can act on; `value` is what the file holds at the issue's path. */
function sentence(issue: z.core.$ZodIssue, value: unknown, misnames: Record<string, string>): string {
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return 'required';
      if (issue.expected === 'int') return `${shownValue(value)} is not a whole number`;
      if (value === null && issue.path.length > 0) return `has no value (expected ${EXPECTED[issue.expected] ?? issue.expected})`;
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${described(value)}`;
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'array') return `needs at least ${plural(min, 'item')}`;
      if (issue.origin === 'string') return min <= 1 ? 'must not be empty' : `must be at least ${plural(min, 'character')}`;
      return issue.inclusive === false ? `must be more than ${min}` : `must be at least ${min}`;
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'array') return `takes at most ${plural(max, 'item')}`;
      if (issue.origin === 'string') return `is longer than ${plural(max, 'character')}`;
      return issue.inclusive === false ? `must be less than ${max}` : `must be at most ${max}`;
    }
    case 'invalid_value': {
      const options = issue.values.map(String);
      const close = typeof value === 'string' ? closestFieldOf(value, options, misnames) : undefined;
      return `${shownValue(value)} is not one of ${options.join(', ')}${close ? ` (did you mean ${close}?)` : ''}`;
    }
    case 'invalid_key':
      return issue.issues[0]?.message ?? issue.message;
    case 'invalid_union': {
      // A tagged union whose tag is missing or unknown (a provider's `type`): say which tags there are.
      const options = (issue as { options?: unknown[] }).options?.map(String);
      if (!options) return issue.message;
      if (value === undefined) return `required: one of ${options.join(', ')}`;
      const close = typeof value === 'string' ? closestFieldOf(value, options, misnames) : undefined;
      return `${shownValue(value)} is not one of ${options.join(', ')}${close ? ` (did you mean ${close}?)` : ''}`;
    }
    case 'invalid_format':
      return issue.message.startsWith('Invalid') ? `${shownValue(value)} is not valid` : issue.message;
    default:
      return issue.message;
  }
}

/** A field path as people read it: `allocations.web.resources.gpus`, `constraints[1]`. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const name = String(seg);
      const part = /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
      out += out === '' ? part : `.${part}`;
    }
  }
  return out;
}

/** The fields an object of `root` takes at `path` (for "did you mean"); empty when none. */
function fieldsAt(root: z.ZodType, path: readonly PropertyKey[], data: unknown): string[] {
  let schema: z.ZodType | undefined = root;
  const unwrap = (s: z.ZodType): z.ZodType => {
    for (;;) {
      if (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
      else if (s instanceof z.ZodPipe) s = (s.in instanceof z.ZodTransform ? s.out : s.in) as z.ZodType;
      else return s;
    }
  };
  const objectFields = (s: z.ZodType): string[] => {
    const u = unwrap(s);
    return u instanceof z.ZodObject ? Object.keys(u.shape) : [];
  };
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const s = unwrap(schema);
    if (s instanceof z.ZodObject) schema = s.shape[String(seg)] as z.ZodType | undefined;
    else if (s instanceof z.ZodRecord) schema = s._zod.def.valueType as z.ZodType;
    else if (s instanceof z.ZodArray) schema = s.element as z.ZodType;
    else if (s instanceof z.ZodDiscriminatedUnion) schema = taggedOption(s, valueAt(data, path.slice(0, i)))?.shape[String(seg)] as z.ZodType | undefined;
    else return [];
    if (!schema) return [];
  }
  const s = unwrap(schema);
  if (s instanceof z.ZodDiscriminatedUnion) {
    // The fields of the option the tag names (a provider's `type`); all of them when it names none.
    const option = taggedOption(s, valueAt(data, path));
    return option ? Object.keys(option.shape) : [...new Set((s.options as z.ZodType[]).flatMap(objectFields))];
  }
  return objectFields(s);
}

/** The option of a tagged union that `value`'s tag selects (`type: ssh`), if any. */
function taggedOption(union: z.ZodDiscriminatedUnion, value: unknown): z.ZodObject | undefined {
  const key = union._zod.def.discriminator;
  const tag = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return (union.options as z.ZodType[]).find((o): o is z.ZodObject => {
    const field = o instanceof z.ZodObject ? o.shape[key] : undefined;
    return field instanceof z.ZodLiteral && field.values.has(tag as never);
  });
}

/**
 * The path of the first `__proto__` key of the data, if any: zod skips such keys in maps of names,
 * so a file that uses one would lose it without a word (and an object prototype is no name).
 */
export function protoKeyPath(data: unknown, path: PropertyKey[] = []): PropertyKey[] | null {
  if (data === null || typeof data !== 'object') return null;
  for (const key of Object.keys(data)) {
    if (key === '__proto__') return [...path, key];
    const inner = protoKeyPath((data as Record<string, unknown>)[key], [...path, Array.isArray(data) ? Number(key) : key]);
    if (inner) return inner;
  }
  return null;
}

// ---- positions ----

type Located = { path: PropertyKey[]; message: string; atKey: boolean };

function rangeStart(node: unknown): number | undefined {
  return (node as { range?: [number, number, number] } | null | undefined)?.range?.[0];
}

export function yamlKeyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

/**
 * The source offset a field path points at: the value's own node when it is there, the key when
 * the key itself is the problem (unknown field), and the nearest enclosing field when the value
 * is missing (a required field names the map it is missing from).
 */
function offsetOf(doc: Document, path: readonly PropertyKey[], atKey: boolean): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  // Where the current node's own key is (`web:`), for a field missing from it.
  let ownerAt = offset;
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc);
    const seg = path[i]!;
    if (isMap(node)) {
      const pair = node.items.find((p) => yamlKeyText(p.key) === String(seg));
      if (!pair) return ownerAt;
      const keyAt = rangeStart(pair.key) ?? offset;
      if (atKey && i === path.length - 1) return keyAt;
      node = pair.value;
      // A key with nothing after it (`pin:`) has a value without a place of its own: use the key's.
      offset = node !== null && isScalar(node) && node.value === null ? keyAt : (rangeStart(node) ?? keyAt);
      ownerAt = keyAt;
    } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
      node = node.items[seg];
      offset = rangeStart(node) ?? offset;
      ownerAt = offset;
    } else {
      return offset;
    }
  }
  return offset;
}

function problemsOf(format: YamlFileFormat, issues: readonly z.core.$ZodIssue[], data: unknown, toFilePath: (p: PropertyKey[]) => PropertyKey[]): Located[] {
  const out: Located[] = [];
  const misnames = format.misnames ?? {};
  for (const issue of issues) {
    const path = toFilePath(issue.path.filter((s): s is string | number => typeof s !== 'symbol'));
    if (issue.code === 'unrecognized_keys') {
      const fields = fieldsAt(format.schema, path, data);
      for (const key of issue.keys) {
        const close = closestFieldOf(key, fields, misnames);
        const hint = close ? ` (did you mean ${close}?)` : fields.length > 0 ? ` (the fields here are ${fields.join(', ')})` : '';
        out.push({ path: [...path, key], message: `unknown field${hint}`, atKey: true });
      }
      continue;
    }
    out.push({ path, message: sentence(issue, valueAt(data, path), misnames), atKey: issue.code === 'invalid_key' });
  }
  return out;
}

// ---- the reader ----

function fail(format: YamlFileFormat, problems: YamlFileProblem[], file: string | undefined): never {
  const where = (p: YamlFileProblem) => (file ? `${file}:${p.line}:${p.col}` : `line ${p.line}:${p.col}`);
  const [first] = problems;
  const more = problems.length > 1 ? ` (and ${plural(problems.length - 1, 'more problem')})` : '';
  const text = first ? `${where(first)}: ${first.path ? `${first.path}: ` : ''}${first.message}${more}` : `the ${format.noun} is not valid`;
  throw new FleetError('invalid_argument', text, { details: { file: file ?? null, problems: problems.slice(0, 50) } });
}

function problemAt(lc: LineCounter, offset: number, path: string, message: string): YamlFileProblem {
  const { line, col } = lc.linePos(offset);
  return { line, col, path, message };
}

/**
 * Reads a YAML file of `format` and hands its data to `read`, which checks it with zod and calls
 * `report` with the issues of the first schema that refuses it. Throws
 * FleetError('invalid_argument') naming the line, column and field of the first problem (all of
 * them, up to 50, in `details.problems`): YAML syntax, duplicate keys, unknown fields (with the
 * field probably meant), wrong types, bad units, values out of range, and the file's own rules.
 */
export function readYamlFile<T>(format: YamlFileFormat, text: unknown, file: string | undefined, read: (data: unknown, report: ReportIssues) => T): T {
  const { noun } = format;
  const whole = (message: string): never => fail(format, [{ line: 1, col: 1, path: '', message }], file);
  if (typeof text !== 'string') return whole(`the ${noun} is not text`);
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > format.maxBytes) return whole(`the ${noun} is ${bytes} bytes; at most ${format.maxBytes} (${format.maxBytes / 1_048_576} MiB)`);
  if (text.includes('\u0000')) return whole(`the ${noun} contains a NUL byte: it is not text`);

  const lc = new LineCounter();
  let doc: Document;
  let data: unknown;
  try {
    doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: true });
    const yamlProblems = [...doc.errors, ...doc.warnings].map((e) => {
      let message = `not valid YAML: ${e.message.split('\n')[0]}`;
      if (e.code === 'DUPLICATE_KEY') message = `duplicate key ${shownValue(/^[^:\n]*/.exec(text.slice(e.pos[0]))![0].trim())}: each field is given once`;
      // yaml reports its own stack overflow on very deep nesting as a problem at that place.
      else if (/call stack/i.test(e.message)) message = `the ${noun} nests too deeply`;
      return problemAt(lc, e.pos[0], '', message);
    });
    if (yamlProblems.length > 0)
      return fail(
        format,
        yamlProblems.sort((a, b) => a.line - b.line || a.col - b.col),
        file,
      );
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return whole(`the ${noun} is empty`);
    if (!isMap(doc.contents)) {
      const got = isSeq(doc.contents) ? 'a list' : 'a single value';
      const article = /^[aeiou]/.test(noun) ? 'an' : 'a';
      return fail(format, [problemAt(lc, rangeStart(doc.contents) ?? 0, '', `${article} ${noun} is a map of fields (${format.topFields}), not ${got}`)], file);
    }
    format.prepare?.(doc);
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    if (err instanceof FleetError) throw err;
    // yaml refuses documents whose aliases expand too far; very deep nesting overflows the stack.
    if (err instanceof RangeError && /stack/i.test(err.message)) return whole(`the ${noun} nests too deeply`);
    if (err instanceof ReferenceError && /alias/i.test(err.message))
      return whole(`the ${noun} expands its aliases (*name) too often (at most ${MAX_ALIAS_COUNT})`);
    return whole(`not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }

  const report: ReportIssues = (issues, toFilePath = (p) => p) => {
    const located = problemsOf(format, issues, data, toFilePath).map((p) => ({ ...p, offset: offsetOf(doc, p.path, p.atKey) }));
    // In file order; at one place, an unknown field first (`nme:` explains the missing `name`).
    located.sort((a, b) => a.offset - b.offset || Number(b.atKey) - Number(a.atKey));
    return fail(
      format,
      located.map((p) => problemAt(lc, p.offset, formatFieldPath(p.path), p.message)),
      file,
    );
  };
  return read(data, report);
}

/** Drops keys whose value is undefined (optional fields the file left out), so a spec holds only what is there. */
export function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutUndefined);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = withoutUndefined(v);
  return out;
}

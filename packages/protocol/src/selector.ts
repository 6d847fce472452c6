import { FleetError } from './errors.js';

/**
 * Label selectors in Kubernetes' syntax: `key=value`, `key==value`, `key!=value`,
 * `key in (a,b)`, `key notin (a,b)`, `key`, `!key`; a comma means AND.
 */
export type Requirement =
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'notexists' };

export interface Selector {
  readonly source: string;
  readonly requirements: readonly Requirement[];
}

export type Labels = Readonly<Record<string, string>>;

const KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,252}[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([A-Za-z0-9._:/+-]{0,252}[A-Za-z0-9])?)?$/;

export function isLabelKey(key: string): boolean {
  return KEY.test(key);
}

export function isLabelValue(value: string): boolean {
  return VALUE.test(value);
}

function bad(source: string, why: string): FleetError {
  return new FleetError('invalid_argument', `bad label selector '${source}': ${why}`);
}

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(text: string, source: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth < 0) throw bad(source, 'unbalanced ")"');
    } else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw bad(source, 'unbalanced "("');
  parts.push(text.slice(start));
  return parts;
}

function checkKey(key: string, source: string): string {
  if (!isLabelKey(key)) throw bad(source, `'${key}' is not a valid label key`);
  return key;
}

function checkValue(value: string, source: string): string {
  if (!isLabelValue(value)) throw bad(source, `'${value}' is not a valid label value`);
  return value;
}

function parseRequirement(raw: string, source: string): Requirement {
  const text = raw.trim();
  if (text === '') throw bad(source, 'empty requirement');
  const setMatch = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(text);
  if (setMatch) {
    const values = setMatch[3]!.split(',').map((v) => v.trim());
    if (values.length === 0 || values.some((v) => v === '')) throw bad(source, `empty value in '${text}'`);
    return { key: checkKey(setMatch[1]!, source), op: setMatch[2] as 'in' | 'notin', values: values.map((v) => checkValue(v, source)) };
  }
  const cmp = /^([^=!\s]+)\s*(==|!=|=)\s*(.*)$/.exec(text);
  if (cmp) {
    return { key: checkKey(cmp[1]!, source), op: cmp[2] === '!=' ? 'neq' : 'eq', value: checkValue(cmp[3]!.trim(), source) };
  }
  if (text.startsWith('!')) return { key: checkKey(text.slice(1).trim(), source), op: 'notexists' };
  return { key: checkKey(text, source), op: 'exists' };
}

/** Parses a selector; an empty string selects everything. Throws FleetError('invalid_argument'). */
export function parseSelector(source: string): Selector {
  if (source.length > 4096) throw bad(`${source.slice(0, 40)}…`, 'longer than 4096 characters');
  const trimmed = source.trim();
  if (trimmed === '' || trimmed === '*') return { source: trimmed, requirements: [] };
  const requirements = splitTopLevel(trimmed, source).map((part) => parseRequirement(part, source));
  return { source: trimmed, requirements };
}

export function matchesRequirement(req: Requirement, labels: Labels): boolean {
  const has = Object.hasOwn(labels, req.key);
  const value = has ? labels[req.key] : undefined;
  switch (req.op) {
    case 'eq':
      return value === req.value;
    case 'neq':
      return value !== req.value;
    case 'in':
      return value !== undefined && req.values.includes(value);
    case 'notin':
      return value === undefined || !req.values.includes(value);
    case 'exists':
      return has;
    case 'notexists':
      return !has;
  }
}

export function matchesSelector(selector: Selector, labels: Labels): boolean {
  return selector.requirements.every((req) => matchesRequirement(req, labels));
}

export function formatSelector(selector: Selector): string {
  return selector.requirements
    .map((r) => {
      switch (r.op) {
        case 'eq':
          return `${r.key}=${r.value}`;
        case 'neq':
          return `${r.key}!=${r.value}`;
        case 'in':
        case 'notin':
          return `${r.key} ${r.op} (${r.values.join(',')})`;
        case 'exists':
          return r.key;
        case 'notexists':
          return `!${r.key}`;
      }
    })
    .join(',');
}

/**
 * Whether a host can vouch for a label key: that it carries the label with the value it
 * shows, or that it does not carry it at all. A selector naming a key the host cannot vouch
 * for is refused, whatever its operator: treating an unknown label as absent would let
 * `env!=prod` run on a host the server lists as env=prod.
 */
export type VouchesFor = (key: string) => boolean;

/** The default vouching: exactly the keys present in `labels` (absence proves nothing). */
export function vouchesForPresent(labels: Labels): VouchesFor {
  return (key) => Object.hasOwn(labels, key);
}

/** The keys `selector` names that `vouches` cannot vouch for, in order, each once. */
export function unvouchedKeys(selector: Selector, vouches: VouchesFor): string[] {
  const out: string[] = [];
  for (const req of selector.requirements) if (!vouches(req.key) && !out.includes(req.key)) out.push(req.key);
  return out;
}

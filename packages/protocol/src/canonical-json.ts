import { FleetError } from './errors.js';

/**
 * The one byte-exact encoding that signatures cover: JSON with object keys sorted by UTF-16
 * code unit (as Array.prototype.sort does), no whitespace, and `undefined` object members
 * dropped (as JSON.stringify drops them). Anything JSON cannot carry faithfully is refused
 * rather than silently changed, because a signer and a verifier that disagree on the bytes
 * would turn every check into a false refusal, or worse, let two values share one signature:
 * non-finite numbers, `undefined` inside arrays, functions, symbols, bigints, class
 * instances (Date, Map, Buffer...) and cycles all throw FleetError('invalid_argument').
 */
export function canonicalJson(value: unknown): string {
  return encode(value, '$', new Set());
}

function refuse(path: string, why: string): FleetError {
  return new FleetError('invalid_argument', `cannot encode ${path} as canonical JSON: ${why}`);
}

function encode(value: unknown, path: string, ancestors: Set<object>): string {
  switch (typeof value) {
    case 'string':
      // JSON.stringify escapes lone surrogates (ES2019 well-formed stringify), so the output is always valid UTF-8.
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw refuse(path, `${value} is not a finite number`);
      // -0 encodes as 0, like JSON.stringify; numbers otherwise keep ECMAScript's shortest round-trip form.
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw refuse(path, `a ${typeof value} has no JSON form`);
  }
  if (value === null) return 'null';
  if (ancestors.has(value)) throw refuse(path, 'it contains a cycle');
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      const items: string[] = [];
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        if (item === undefined) throw refuse(`${path}[${i}]`, 'undefined inside an array (JSON would turn it into null)');
        items.push(encode(item, `${path}[${i}]`, ancestors));
      }
      return `[${items.join(',')}]`;
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
      throw refuse(path, `a ${name} instance is not a plain object`);
    }
    const record = value as Record<string, unknown>;
    const members: string[] = [];
    for (const key of Object.keys(record).sort()) {
      const member = record[key];
      if (member === undefined) continue;
      members.push(`${JSON.stringify(key)}:${encode(member, `${path}.${key}`, ancestors)}`);
    }
    return `{${members.join(',')}}`;
  } finally {
    ancestors.delete(value);
  }
}

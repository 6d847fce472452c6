import { FleetError } from '@gpufleet/protocol';

/**
 * Checks on values before they reach SQL. Both dialects must store exactly the same thing, and they
 * disagree on garbage (SQLite keeps 1.5 in a bigint column, PostgreSQL refuses it with a driver
 * error), so the store refuses it itself with an `invalid_argument` FleetError naming the field.
 */
function bad(field: string, what: string, value: unknown): never {
  throw new FleetError('invalid_argument', `store: ${field} must be ${what}, got ${describe(value)}`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  return typeof value;
}

/** A non-empty string of at most 1024 characters (ids, keys). */
export function checkId(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 1024) bad(field, 'a non-empty string', value);
  return value;
}

export function checkText(field: string, value: unknown): string {
  if (typeof value !== 'string') bad(field, 'a string', value);
  return value;
}

export function checkTextOrNull(field: string, value: unknown): string | null {
  return value === null ? null : checkText(field, value);
}

/** An integer JavaScript can hold exactly (epoch ms, sequence numbers, counters). */
export function checkInt(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) bad(field, 'a safe integer', value);
  return value;
}

export function checkIntOrNull(field: string, value: unknown): number | null {
  return value === null ? null : checkInt(field, value);
}

export function checkBool(field: string, value: unknown): number {
  if (typeof value !== 'boolean') bad(field, 'a boolean', value);
  return value ? 1 : 0;
}

export function checkOneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) bad(field, `one of ${allowed.join(', ')}`, value);
  return value as T;
}

/** A plain object (label maps, event data): not null, not an array. */
export function checkObject(field: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad(field, 'an object', value);
  return value as Record<string, unknown>;
}

export function checkArray(field: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) bad(field, 'an array', value);
  return value;
}

/** A string map such as labels: every value a string. */
export function checkStringMap(field: string, value: unknown): Record<string, string> {
  const map = checkObject(field, value);
  for (const [k, v] of Object.entries(map)) if (typeof v !== 'string') bad(`${field}.${k}`, 'a string', v);
  return map as Record<string, string>;
}

/** JSON text of a value; cycles and BigInts are refused instead of surfacing as a TypeError. */
export function toJson(field: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value === undefined ? null : value);
  } catch (err) {
    throw new FleetError('invalid_argument', `store: ${field} is not JSON-serializable: ${(err as Error).message}`, { cause: err });
  }
  // JSON.stringify gives undefined for a bare function or symbol.
  if (text === undefined) bad(field, 'JSON-serializable', value);
  return text;
}

/** Parses JSON read back from the database; corruption there is our fault, so `internal`. */
export function fromJson(where: string, text: unknown): unknown {
  if (typeof text !== 'string') throw new FleetError('internal', `store: ${where} holds no JSON text`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FleetError('internal', `store: ${where} holds corrupt JSON`, { cause: err });
  }
}

/** Number from a database integer: pg may hand int8 over as a string when no parser is set. */
export function dbInt(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

export function dbIntOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : dbInt(value);
}

/** A list limit: default 100, at most 10,000 (callers page by `since`). */
export function checkLimit(value: unknown): number {
  if (value === undefined) return 100;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) bad('limit', 'a positive integer', value);
  return Math.min(value, 10_000);
}

/**
 * A list of ids for `in (...)`. An empty list would be invalid SQL, so it becomes a value no id
 * takes: the filter then matches nothing, as an empty set should.
 */
export function checkIdList(field: string, ids: unknown): string[] {
  if (!Array.isArray(ids)) throw new FleetError('invalid_argument', `store: ${field} must be an array`);
  if (ids.length > 20_000) throw new FleetError('invalid_argument', `store: ${field} holds more than 20000 ids`);
  const list = ids.map((id, i) => checkId(`${field}[${i}]`, id));
  return list.length === 0 ? [''] : list;
}

/**
 * Rows per statement in batch writes: keeps the bound parameters (10 per agent event) well under
 * SQLite's 32,766 and PostgreSQL's 65,535 limits.
 */
export const BATCH_ROWS = 500;

import { FleetError } from '@gpufleet/protocol';

/**
 * Checks of the names a caller gives the bus: subjects, patterns, message ids, keys, buckets and
 * consumer names. Both implementations apply the same rules, so what the in-process bus accepts
 * the NATS one accepts too; the rules are NATS's, narrowed to printable ASCII.
 */

/** Longest subject or pattern, before the bus namespace goes in front. */
export const MAX_SUBJECT_LENGTH = 256;
export const MAX_MSG_ID_LENGTH = 128;
export const MAX_KEY_LENGTH = 256;

// Printable ASCII except the token separator and the wildcards. NATS would take more (any byte
// but whitespace), but anything else here is a mistake or an id that wants encoding (subjects.ts).
const isToken = (token: string) => /^[\x21-\x7e]+$/.test(token) && !/[*>]/.test(token);
const KEY_TOKEN = /^[A-Za-z0-9_=-]+$/;
// Bucket and consumer names become parts of NATS stream and consumer names (and file names on
// the server), so they keep to a safe set.
const NAME = /^[A-Za-z0-9_-]+$/;
const CONSUMER_NAME = /^[A-Za-z0-9_=-]+$/;

function invalid(what: string, value: unknown, why: string): FleetError {
  const shown = typeof value === 'string' ? `'${value.slice(0, 80)}'` : typeof value;
  return new FleetError('invalid_argument', `${what} ${shown} ${why}`);
}

function tokensOf(what: string, value: unknown, maxLength: number): string[] {
  if (typeof value !== 'string' || value === '') throw invalid(what, value, 'must be a non-empty string');
  if (value.length > maxLength) throw invalid(what, value, `is longer than ${maxLength} characters`);
  const tokens = value.split('.');
  if (tokens.some((t) => t === '')) throw invalid(what, value, 'has an empty token (a leading, trailing or double dot)');
  return tokens;
}

/** A subject to publish on: tokens without wildcards. */
export function checkSubject(subject: unknown): string {
  for (const token of tokensOf('subject', subject, MAX_SUBJECT_LENGTH)) {
    if (!isToken(token)) throw invalid('subject', subject, `has token '${token}' with a wildcard, space or non-ASCII character`);
  }
  return subject as string;
}

/** A subject or a pattern to listen on: `*` stands for one token, a last `>` for one or more. */
export function checkPattern(pattern: unknown): string {
  const tokens = tokensOf('pattern', pattern, MAX_SUBJECT_LENGTH);
  tokens.forEach((token, i) => {
    if (token === '*' || (token === '>' && i === tokens.length - 1)) return;
    if (token === '>') throw invalid('pattern', pattern, "has '>' before its last token");
    if (!isToken(token)) throw invalid('pattern', pattern, `has token '${token}' with a wildcard inside, a space or a non-ASCII character`);
  });
  return pattern as string;
}

/** Whether a subject matches a pattern (both already checked). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/** A durable message id: printable ASCII, as it travels in a header. */
export function checkMsgId(msgId: unknown): string {
  if (typeof msgId !== 'string' || !/^[!-~]+$/.test(msgId)) throw invalid('message id', msgId, 'must be a non-empty string of printable ASCII without spaces');
  if (msgId.length > MAX_MSG_ID_LENGTH) throw invalid('message id', msgId, `is longer than ${MAX_MSG_ID_LENGTH} characters`);
  return msgId;
}

/** A KV key: dot-separated tokens of letters, digits, '_', '-' and '='. */
export function checkKey(key: unknown): string {
  for (const token of tokensOf('key', key, MAX_KEY_LENGTH)) {
    if (!KEY_TOKEN.test(token)) throw invalid('key', key, "may hold only letters, digits, '_', '-', '=' and dots (encode ids with subjects.ts)");
  }
  return key as string;
}

/**
 * A bucket, namespace or consumer name: letters, digits, '_' and '-' (NATS KV bucket names allow
 * no more). Consumer names may also hold '=' and be longer, as they carry an encoded node id
 * (subjects.ts consumers).
 */
export function checkName(what: 'bucket' | 'consumer name' | 'namespace', name: unknown): string {
  const consumer = what === 'consumer name';
  const max = consumer ? 160 : 64;
  if (typeof name !== 'string' || !(consumer ? CONSUMER_NAME : NAME).test(name)) {
    throw invalid(what, name, `may hold only letters, digits, '_', '-'${consumer ? " and '='" : ''}`);
  }
  if (name.length > max) throw invalid(what, name, `is longer than ${max} characters`);
  return name;
}

/** A revision given for compare-and-set. */
export function checkRevision(revision: unknown): number {
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 1) throw invalid('revision', revision, 'must be a positive integer');
  return revision;
}

/** A duration or count option: a whole number at least min, or the default when absent. */
export function wholeOption(what: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new FleetError('invalid_argument', `${what} must be a whole number of at least ${min}, not ${String(value)}`);
  }
  return value;
}

/** Refuses option keys this version does not know (DESIGN.md §8.3): a typo must not pass silently. */
export function refuseUnknownKeys(what: string, options: object | undefined, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) throw new FleetError('invalid_argument', `${what} must be an object`);
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new FleetError('invalid_argument', `unknown ${what}: ${unknown.join(', ')}`, { details: { unknown } });
}

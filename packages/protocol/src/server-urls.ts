import { z } from 'zod';

/**
 * The control plane's replica URLs as agents learn them (join token, welcome frame, node
 * config): the same rules everywhere, so a list one part accepts is never refused by another.
 */

/** A fleet lists at most this many replicas; more is a mistake, not a bigger fleet. */
export const MAX_SERVER_URLS = 16;
const MAX_SERVER_URL_CHARS = 2048;

/** Why `text` is not a server URL an agent can dial, or null when it is. */
export function serverUrlProblem(text: string): string | null {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  if (text.length > MAX_SERVER_URL_CHARS) return `'${shown}' is longer than ${MAX_SERVER_URL_CHARS} characters`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `'${shown}' is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `'${shown}' is not an http or https URL`;
  return null;
}

/**
 * Why `value` is not a usable list of server URLs (not a list, empty, too long, a bad entry, the
 * same URL twice), or null when it is. Entries are numbered from 1 in the messages.
 */
export function serverUrlListProblem(value: unknown): string | null {
  if (!Array.isArray(value)) return 'the server URLs are not a list';
  if (value.length === 0) return 'the server URL list is empty';
  if (value.length > MAX_SERVER_URLS) return `at most ${MAX_SERVER_URLS} server URLs, got ${value.length}`;
  const seen = new Set<string>();
  for (const [i, entry] of value.entries()) {
    if (typeof entry !== 'string') return `server URL #${i + 1} is not a string`;
    const problem = serverUrlProblem(entry);
    if (problem) return `server URL #${i + 1}: ${problem}`;
    // Compared as parsed, so `https://a:1` and `https://a:1/` count as the same replica.
    const key = new URL(entry).href;
    if (seen.has(key)) return `server URL #${i + 1} ('${entry}') is listed twice`;
    seen.add(key);
  }
  return null;
}

/** A list of 1 to 16 distinct server URLs on the wire. */
export const ServerUrlList = z
  .array(z.string())
  .min(1)
  .max(MAX_SERVER_URLS)
  .superRefine((list, ctx) => {
    // A list of the wrong length is already reported by min/max; one message per mistake.
    if (list.length === 0 || list.length > MAX_SERVER_URLS) return;
    const problem = serverUrlListProblem(list);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

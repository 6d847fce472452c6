import { UsageError } from '../errors.js';

/** Flags of `groups` and `vars`, checked before any request. */

const GROUP_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export function checkGroupName(name: string): string {
  if (name.length > 64 || !GROUP_NAME.test(name))
    throw new UsageError(`'${name}' is not a group name (a letter or _, then letters, digits, _ or -; at most 64)`);
  return name;
}

export function checkPriority(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d{1,4}$/.test(text) || Math.abs(Number(text)) > 1000) throw new UsageError(`--priority '${text}' must be a whole number from -1000 to 1000`);
  return Number(text);
}

export function checkSelector(text: string): string {
  if (text.trim() === '' || text.length > 1000)
    throw new UsageError('-l/--selector must be a label selector of 1 to 1000 characters, such as gpu.vendor=nvidia');
  return text;
}

export function checkDescription(text: string | undefined): string | undefined {
  if (text !== undefined && text.length > 500) throw new UsageError('--description is at most 500 characters');
  return text;
}

/** Node references (id, id prefix or hostname) given with a repeatable flag; the server resolves them. */
export function checkNodeRefs(flag: string, refs: string[] | undefined): string[] | undefined {
  if (refs === undefined) return undefined;
  for (const r of refs) if (r.trim() === '' || r.length > 253) throw new UsageError(`${flag} '${r}' is not a node (id, id prefix or hostname)`);
  return refs;
}

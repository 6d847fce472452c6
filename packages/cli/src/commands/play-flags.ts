import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseDurationMs } from '@gpufleet/protocol';
import { UsageError } from '../errors.js';

/** Flags of `templates add` and `plays run`, checked before any request. */

/** What a variable may hold (the protocol's VarValue). */
type VarValue = string | number | boolean | null | unknown[] | Record<string, unknown>;

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const TEMPLATE_NAME = /^[a-z][a-z0-9_]*$/;
const PLAYBOOK_MAX_BYTES = 1_048_576;

/** Commander collector for repeatable flags. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `k=v` pairs; each value is read as a YAML scalar (9100 is a number, true a boolean, "x" a string). */
export function parseVarFlags(flag: string, pairs: string[] | undefined): Record<string, VarValue> | undefined {
  if (pairs === undefined || pairs.length === 0) return undefined;
  const vars: Record<string, VarValue> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag} '${pair}' must be NAME=VALUE`);
    const name = pair.slice(0, eq);
    if (!VAR_NAME.test(name) || name.length > 128) throw new UsageError(`${flag} '${name}' is not a variable name (a letter or _, then letters, digits or _)`);
    const text = pair.slice(eq + 1);
    let value: unknown;
    try {
      value = text === '' ? '' : parseYaml(text);
    } catch {
      value = text;
    }
    vars[name] = value as VarValue;
  }
  return vars;
}

export function checkTemplateName(name: string): string {
  if (name.length > 64 || !TEMPLATE_NAME.test(name))
    throw new UsageError(`'${name}' is not a template name (lower case letters, digits and _, starting with a letter)`);
  return name;
}

export function checkDuration(flag: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDurationMs(text);
  } catch {
    throw new UsageError(`${flag} '${text}' is not a duration such as 90s, 30m or 2h`);
  }
  if (ms < 1000 || ms > 86_400_000) throw new UsageError(`${flag} '${text}' must be from 1s to 24h`);
  return text;
}

export function checkSerial(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!/^([1-9][0-9]{0,5}|([1-9][0-9]?|100)%)$/.test(text)) throw new UsageError(`--serial '${text}' must be a number of hosts (5) or a share of them (25%)`);
  return text;
}

export function checkMaxFail(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,3}$/.test(text) || Number(text) > 100) throw new UsageError(`--max-fail '${text}' must be a percentage from 0 to 100`);
  return Number(text);
}

export function checkVersion(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9]\d{0,8}$/.test(text)) throw new UsageError(`--version '${text}' must be a whole number from 1`);
  return Number(text);
}

/** A playbook file's text, at most 1 MiB. */
export function readPlaybook(cwd: string, file: string): string {
  const path = resolve(cwd, file);
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new UsageError(`${file} is a folder, not a playbook`);
    if (st.size > PLAYBOOK_MAX_BYTES) throw new UsageError(`${file} is ${st.size} bytes; a playbook is at most 1 MiB`);
    const text = readFileSync(path, 'utf8');
    if (text.trim() === '') throw new UsageError(`${file} is empty`);
    return text;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read playbook ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}`);
  }
}

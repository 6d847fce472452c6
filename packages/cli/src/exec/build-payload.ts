import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  Capability,
  CommandPayload,
  capabilityDepthExceeds,
  makeCommandPayload,
  parseDurationMs,
  type CommandPayloadInput,
  type CommandSpec,
} from '@gpufleet/protocol';
import { UsageError } from '../errors.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `--env K=V` words as a map; a name repeated keeps its last value. */
export function parseEnvPairs(words: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq <= 0) throw new UsageError(`--env '${word}' must be NAME=value`);
    const name = word.slice(0, eq);
    if (!ENV_NAME.test(name)) throw new UsageError(`--env name '${name}' must be letters, digits and _ (not starting with a digit)`);
    env[name] = word.slice(eq + 1);
  }
  return env;
}

/** `--batch-size` / `--failure-threshold`: a whole number, or a percentage such as 25%. */
export function parseCountOrPercent(flag: string, text: string): number | string {
  const t = text.trim();
  if (/^\d{1,7}$/.test(t)) return Number(t);
  const pct = /^(\d{1,3}(?:\.\d{1,3})?)%$/.exec(t);
  if (pct && Number(pct[1]) <= 100) return t;
  throw new UsageError(`${flag} '${text}' must be a whole number or a percentage from 0% to 100% (such as 25%)`);
}

/** `--timeout 60s|15m|2h`, up to 7 days. */
export function parseTimeout(text: string): number {
  let ms: number;
  try {
    ms = parseDurationMs(text);
  } catch {
    throw new UsageError(`--timeout '${text}' is not a duration such as 30s, 10m or 2h`);
  }
  if (ms < 1000 || ms > 7 * 86_400_000) throw new UsageError(`--timeout '${text}' must be from 1s to 7d`);
  return ms;
}

/** A capability file (`caps grant --out`): JSON or YAML, bare or inside `{ capability }`. */
export function parseCapabilityFile(text: string, file: string): Capability {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    try {
      raw = parseYaml(text);
    } catch {
      throw new UsageError(`--cap ${file} is neither JSON nor YAML`);
    }
  }
  if (raw && typeof raw === 'object' && 'capability' in raw) raw = (raw as { capability: unknown }).capability;
  if (capabilityDepthExceeds(raw)) throw new UsageError(`--cap ${file}: its delegation chain is too deep`);
  const parsed = Capability.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`--cap ${file} is not a capability (${issue ? `${issue.path.join('.') || 'top'}: ${issue.message}` : 'invalid'})`);
  }
  return parsed.data;
}

/** `--cap FILE` (relative to `cwd`) read and parsed; an unreadable file is a usage error naming it. */
export function readCapabilityFile(file: string, cwd: string): Capability {
  let text: string;
  try {
    text = readFileSync(resolve(cwd, file), 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --cap ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseCapabilityFile(text, file);
}

/** What to run: exactly one of argv words, an inline shell script, or a library script. */
export interface CommandChoice {
  argv: readonly string[];
  sh?: string;
  script?: { name: string; version: number; sha256: string; args: readonly string[] };
}

export function commandSpecOf(c: CommandChoice): CommandSpec {
  const given = [c.argv.length > 0, c.sh !== undefined, c.script !== undefined].filter(Boolean).length;
  if (given === 0) throw new UsageError("say what to run: `-- CMD ARGS...`, `--sh 'script'` or `--script NAME`");
  if (given > 1) throw new UsageError('give only one of `-- CMD ARGS...`, `--sh` and `--script`');
  if (c.sh !== undefined) {
    if (c.sh.trim() === '') throw new UsageError('--sh needs a script');
    return { kind: 'shell', script: c.sh };
  }
  if (c.script) return { kind: 'script', name: c.script.name, version: c.script.version, sha256: c.script.sha256, args: [...c.script.args] };
  return { kind: 'argv', argv: [...c.argv] };
}

/** What the CLI signs; see makeCommandPayload (shared with the dashboard's in-browser signer). */
export type PayloadInput = CommandPayloadInput;

/** The payload an operator signs: a fresh runId and nonce, issued now. Checked against the schema. */
export function buildPayload(p: PayloadInput): CommandPayload {
  const payload = makeCommandPayload(p);
  const checked = CommandPayload.safeParse(payload);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new UsageError(`the command cannot be signed: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`);
  }
  return payload;
}

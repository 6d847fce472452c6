import type { CommandSpec } from '@gpufleet/protocol';
import { checkSelector } from '../selector.js';
import { MAX_TIMEOUT_MS } from './payload.js';
import { shellQuote, splitShellWords } from './shell-words.js';
import type { SignRequest } from './types.js';

/*
 * The "New run" form as plain data: what the operator typed, read the way `gpufleet exec` reads
 * its flags (same duration, count-or-percent and NAME=value rules), and the equivalent command
 * line. Kept apart from the page so it can be tested without a browser.
 */

export interface RunForm {
  /** Label selector; blank means every host ('*'). */
  selector: string;
  mode: 'argv' | 'shell';
  /** argv mode: a command line, split into words without any shell expansion. */
  commandLine: string;
  /** shell mode: a script for `sh -c`. */
  script: string;
  timeout: string;
  /** NAME=value, one a line. */
  env: string;
  cwd: string;
  runAs: string;
  batchSize: string;
  failureThreshold: string;
  maxParallel: string;
}

export const EMPTY_RUN_FORM: RunForm = {
  selector: '',
  mode: 'argv',
  commandLine: '',
  script: '',
  timeout: '60s',
  env: '',
  cwd: '',
  runAs: '',
  batchSize: '',
  failureThreshold: '',
  maxParallel: '',
};

/** POST /api/v1/runs `batch`, as the CLI sends it. */
export interface BatchOptions {
  maxParallel?: number;
  batchSize?: number | string;
  failureThreshold?: number | string;
}

export type RunFormErrors = Partial<Record<keyof RunForm, string>>;

export interface ReadRunForm {
  /** Null while anything is wrong (see errors). */
  request: SignRequest | null;
  batch: BatchOptions;
  errors: RunFormErrors;
  /** The selector the payload targets ('*' when left blank). */
  target: string;
  /** The argv words (argv mode), to show how the line was split. */
  argv: string[];
}

const DURATION = /^(\d{1,9})(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const COUNT = /^\d{1,7}$/;
const PERCENT = /^(\d{1,3}(?:\.\d{1,3})?)%$/;

/** A duration such as 30s, 10m or 2h in ms, or why not (1s to 7d, as --timeout). */
export function parseTimeoutText(text: string): number | string {
  const m = DURATION.exec(text.trim());
  if (!m) return `'${text}' is not a duration such as 30s, 10m or 2h`;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  if (ms < 1000 || ms > MAX_TIMEOUT_MS) return 'the timeout must be from 1s to 7d';
  return ms;
}

/** A whole number or a percentage (25%), as --batch-size and --failure-threshold; null when blank. */
function countOrPercent(text: string): { value: number | string } | { error: string } | null {
  const t = text.trim();
  if (t === '') return null;
  if (COUNT.test(t)) return { value: Number(t) };
  const pct = PERCENT.exec(t);
  if (pct && Number(pct[1]) <= 100) return { value: t };
  return { error: `'${text}' must be a whole number or a percentage from 0% to 100% (such as 25%)` };
}

/** NAME=value lines as a map (a name repeated keeps its last value), or why not. */
export function parseEnvLines(text: string): Record<string, string> | string {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) return `'${line}' must be NAME=value`;
    const name = line.slice(0, eq).trim();
    if (!ENV_NAME.test(name)) return `environment name '${name}' must be letters, digits and _ (not starting with a digit)`;
    env[name] = line.slice(eq + 1);
  }
  return env;
}

/** Reads the form: the request to sign and the batch policy, or what is wrong with each field. */
export function readRunForm(f: RunForm): ReadRunForm {
  const errors: RunFormErrors = {};
  const target = f.selector.trim() === '' ? '*' : f.selector.trim();
  const selectorError = checkSelector(f.selector);
  if (selectorError) errors.selector = selectorError;

  let argv: string[] = [];
  let command: CommandSpec | null = null;
  if (f.mode === 'argv') {
    try {
      argv = splitShellWords(f.commandLine);
      if (argv.length === 0) errors.commandLine = 'say what to run';
      else command = { kind: 'argv', argv };
    } catch (err) {
      errors.commandLine = (err as Error).message;
    }
  } else if (f.script.trim() === '') {
    errors.script = 'say what to run';
  } else {
    command = { kind: 'shell', script: f.script };
  }

  const timeout = parseTimeoutText(f.timeout);
  if (typeof timeout === 'string') errors.timeout = timeout;
  const env = parseEnvLines(f.env);
  if (typeof env === 'string') errors.env = env;
  if (f.cwd.length > 4096) errors.cwd = 'at most 4096 characters';
  if (f.runAs.trim().length > 64) errors.runAs = 'at most 64 characters';

  const batch: BatchOptions = {};
  const size = countOrPercent(f.batchSize);
  if (size && 'error' in size) errors.batchSize = size.error;
  else if (size && (size.value === 0 || size.value === '0%')) errors.batchSize = 'a batch is at least 1 host';
  else if (size) batch.batchSize = size.value;
  const threshold = countOrPercent(f.failureThreshold);
  if (threshold && 'error' in threshold) errors.failureThreshold = threshold.error;
  else if (threshold) batch.failureThreshold = threshold.value;
  const parallel = f.maxParallel.trim();
  if (parallel !== '') {
    if (/^\d{1,8}$/.test(parallel) && Number(parallel) >= 1 && Number(parallel) <= 10_000_000) batch.maxParallel = Number(parallel);
    else errors.maxParallel = 'a whole number from 1 to 10000000';
  }

  const ok = Object.keys(errors).length === 0 && command !== null && typeof timeout === 'number' && typeof env !== 'string';
  const request: SignRequest | null = ok
    ? {
        command: command!,
        target,
        timeoutMs: timeout as number,
        env: env as Record<string, string>,
        cwd: f.cwd === '' ? null : f.cwd,
        runAs: f.runAs.trim() === '' ? null : f.runAs.trim(),
      }
    : null;
  return { request, batch, errors, target, argv };
}

/** Who signs on the command line: the key's name, and the capability file when it needs one. */
export interface CliKey {
  keyName: string | null;
  /** A file name for --cap, or null when the key is a fleet root (or unknown). */
  capFile: string | null;
}

/** The `gpufleet exec` command that starts the same run from a terminal, signed there. */
export function execCliCommand(f: RunForm, key: CliKey): string {
  const parts = ['gpufleet', 'exec', '-l', shellQuote(f.selector.trim() || '*')];
  if (key.keyName && key.keyName !== 'default') parts.push('--key', shellQuote(key.keyName));
  if (key.capFile) parts.push('--cap', shellQuote(key.capFile));
  if (f.timeout.trim() && f.timeout.trim() !== '60s') parts.push('--timeout', shellQuote(f.timeout.trim()));
  const env = parseEnvLines(f.env);
  if (typeof env !== 'string') for (const [k, v] of Object.entries(env)) parts.push('--env', shellQuote(`${k}=${v}`));
  if (f.cwd !== '') parts.push('--cwd', shellQuote(f.cwd));
  if (f.runAs.trim() !== '') parts.push('--run-as', shellQuote(f.runAs.trim()));
  if (f.maxParallel.trim() !== '') parts.push('--max-parallel', shellQuote(f.maxParallel.trim()));
  if (f.batchSize.trim() !== '') parts.push('--batch-size', shellQuote(f.batchSize.trim()));
  if (f.failureThreshold.trim() !== '') parts.push('--failure-threshold', shellQuote(f.failureThreshold.trim()));
  if (f.mode === 'shell') {
    parts.push('--sh', shellQuote(f.script));
  } else {
    let words: string[];
    try {
      words = splitShellWords(f.commandLine);
    } catch {
      words = [f.commandLine];
    }
    parts.push('--', ...(words.length > 0 ? words.map(shellQuote) : ['COMMAND']));
  }
  return parts.join(' ');
}

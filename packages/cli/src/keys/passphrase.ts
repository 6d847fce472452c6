import type { CliIo } from '../io.js';
import { CliError, UsageError } from '../errors.js';
import { DEFAULT_KEY_NAME, isKeyEncrypted, loadOperatorKey, type KeyLocation, type OperatorKey } from './key-store.js';

/** The environment variable an encrypted operator key's passphrase is read from by default. */
export const PASSPHRASE_ENV = 'GPUFLEET_KEY_PASSPHRASE';

/** A terminal to read a passphrase from without echoing it. */
export interface HiddenInput {
  input: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  output: NodeJS.WritableStream;
}

/**
 * Reads one line from a terminal without echo (raw mode, byte by byte). Enter ends it,
 * Backspace erases, Ctrl-C or Ctrl-D on an empty line aborts with a CliError.
 */
export function promptHidden(question: string, term: HiddenInput = { input: process.stdin, output: process.stderr }): Promise<string> {
  return new Promise((resolve, reject) => {
    const { input, output } = term;
    let text = '';
    const raw = typeof input.setRawMode === 'function';
    const done = (err: Error | null) => {
      input.off('data', onData);
      if (raw) input.setRawMode!(false);
      input.pause();
      output.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003' || (ch === '\u0004' && text === '')) return done(new CliError('canceled'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else if (ch >= ' ') text += ch;
      }
    };
    output.write(question);
    if (raw) input.setRawMode!(true);
    input.on('data', onData);
    input.resume();
  });
}

/** Options shared by commands that sign with an operator key. */
export interface KeyFlags {
  /** --key: the key's name. */
  key?: string;
  /** --passphrase-env: the variable holding the passphrase (default GPUFLEET_KEY_PASSPHRASE). */
  passphraseEnv?: string;
}

/** Reads a passphrase from the variable a flag names; the variable must be set and non-empty. */
export function passphraseFromEnv(io: CliIo, variable: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) throw new UsageError(`--passphrase-env '${variable}' is not an environment variable name`);
  const value = io.env[variable];
  if (!value) throw new UsageError(`--passphrase-env ${variable}: the variable is not set or empty`);
  return value;
}

/**
 * Loads the operator key a command signs with (--key, default 'default'), from io's
 * environment and home. An encrypted key's passphrase comes from the --passphrase-env
 * variable, else GPUFLEET_KEY_PASSPHRASE, else a prompt when stdin is a terminal; otherwise
 * one CliError says how to give it. `term` replaces the terminal (tests).
 */
export async function unlockOperatorKey(io: CliIo, flags: KeyFlags = {}, term?: HiddenInput): Promise<OperatorKey> {
  const name = flags.key ?? DEFAULT_KEY_NAME;
  const loc: KeyLocation = { env: io.env, home: io.home, cwd: io.cwd };
  if (!isKeyEncrypted(name, loc)) return loadOperatorKey(name, loc);
  let passphrase: string | undefined;
  if (flags.passphraseEnv !== undefined) passphrase = passphraseFromEnv(io, flags.passphraseEnv);
  else if (io.env[PASSPHRASE_ENV]) passphrase = io.env[PASSPHRASE_ENV];
  else if (io.stdinIsTty || term) passphrase = await promptHidden(`passphrase for key '${name}': `, term);
  return loadOperatorKey(name, { ...loc, ...(passphrase ? { passphrase } : {}) });
}

import { CommanderError } from 'commander';
import { FleetError } from '@gpufleet/protocol';

/** A mistake on the command line (bad flag value, bad selector, missing argument): exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure the user should read as one line (server said no, cannot connect): exit code 1. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, opts: { exitCode?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CliError';
    this.exitCode = opts.exitCode ?? 1;
  }
}

/** Commander codes that are not failures: help or version was asked for. */
const COMMANDER_OK = new Set(['commander.helpDisplayed', 'commander.version']);

export function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) {
    if (COMMANDER_OK.has(err.code)) return 0;
    // Every other commander error is about the command line (help shown for a missing subcommand included).
    return 2;
  }
  if (err instanceof UsageError) return 2;
  if (err instanceof CliError) return err.exitCode;
  // FleetError invalid_argument raised locally (selector, label, parser input) is bad user input.
  if (FleetError.is(err, 'invalid_argument')) return 2;
  return 1;
}

/** The one line printed for an error: `error: <message>`, never a stack trace. */
export function errorLine(err: unknown): string {
  let message: string;
  if (err instanceof CommanderError) message = err.message.replace(/^error:\s*/i, '');
  else if (err instanceof Error) message = err.message;
  else message = String(err);
  const oneLine = message.replace(/\s*\n\s*/g, ' ').trim() || 'unknown error';
  return `error: ${oneLine}`;
}

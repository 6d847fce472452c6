import { readFileSync } from 'node:fs';
import type { CliIo } from './io.js';
import { CliError } from './errors.js';

/** Resolves on the first SIGINT/SIGTERM (Ctrl-C), with the signal's name. */
export function waitForInterrupt(io: CliIo): Promise<string> {
  return new Promise((resolve) => {
    const dispose = io.onInterrupt((reason) => {
      dispose();
      resolve(reason);
    });
  });
}

/**
 * Runs shutdown steps in order while a second Ctrl-C stays harmless: each step is awaited,
 * a failing step is reported and the rest still run.
 */
export async function stopInOrder(io: CliIo, steps: readonly { name: string; stop: () => Promise<void> }[]): Promise<boolean> {
  let ok = true;
  const ignore = io.onInterrupt(() => io.err('still stopping, please wait\n'));
  try {
    for (const step of steps) {
      try {
        await step.stop();
      } catch (err) {
        ok = false;
        io.err(`warning: stopping the ${step.name} failed: ${(err as Error).message}\n`);
      }
    }
  } finally {
    ignore();
  }
  return ok;
}

/** A friendlier line for errors from listening on a port. */
export function listenError(err: unknown, listen: string): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE') return new CliError(`cannot listen on ${listen}: the address is in use (another gpufleet server? pick one with --listen)`);
  if (code === 'EACCES') return new CliError(`cannot listen on ${listen}: permission denied (ports below 1024 need privileges)`);
  if (code === 'EADDRNOTAVAIL') return new CliError(`cannot listen on ${listen}: no such address on this machine`);
  return err;
}

/** The CLI's own version, from its package.json (the same file from src/ and dist/). */
export function cliVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

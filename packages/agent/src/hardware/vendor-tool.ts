import type { GpuVendor, ToolFailure } from '@gpufleet/protocol';
import type { ToolExec } from './tool-runner.js';

/** What every vendor source needs to run its tools. */
export interface ToolContext {
  exec: ToolExec;
  timeoutMs: number;
}

/** A parsed tool run: the tool is absent, it failed (as a ToolFailure), or it gave a value. */
export type ToolOutcome<T> = { kind: 'missing' } | { kind: 'failed'; failure: ToolFailure; output: string } | { kind: 'ok'; value: T; stderr: string };

/** Turns a failed run's output into a failure; the vendor may know better than the generic one. */
export type ClassifyFailure = (output: string, exitCode: number | null) => ToolFailure | null;

const MAX_MESSAGE = 4096;
const HEAD_CHARS = 512;

/** Cuts a message to what a ToolFailure may carry. */
export function clipMessage(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
}

export function toolFailure(vendor: GpuVendor, tool: string, message: string, exitCode: number | null): ToolFailure {
  return { vendor, tool, message: clipMessage(message), exitCode: exitCode !== null && Number.isInteger(exitCode) ? exitCode : null };
}

/**
 * Runs one vendor tool and parses its stdout. Every way it can go wrong ends as data: a tool
 * not installed is `missing`; a timeout, a non-zero exit, a parser that throws (the output was
 * not what the parser knows) is `failed` with a ToolFailure. Never rejects.
 */
export async function runParsed<T>(
  ctx: ToolContext,
  vendor: GpuVendor,
  command: string,
  args: string[],
  parse: (stdout: string) => T,
  classify?: ClassifyFailure,
): Promise<ToolOutcome<T>> {
  const shown = [command, ...args].join(' ');
  let result;
  try {
    // Vendor tools localise numbers under some locales; the parsers read the C locale.
    result = await ctx.exec(command, args, { timeoutMs: ctx.timeoutMs, env: { LC_ALL: 'C' } });
  } catch (err) {
    // A custom runner broke its contract; still no throw past this point.
    return failed(toolFailure(vendor, command, `${shown} could not be run: ${errorText(err)}`, null), '');
  }
  if (result.kind === 'missing') return result;
  if (result.kind === 'failed') {
    const byVendor = result.timedOut ? null : (classify?.(result.output, result.exitCode) ?? null);
    const failure =
      byVendor ??
      toolFailure(
        vendor,
        command,
        result.timedOut
          ? `${shown} timed out after ${ctx.timeoutMs} ms`
          : `${shown} ${result.exitCode === null ? 'was killed' : `exited with code ${result.exitCode}`}${head(result.output)}`,
        result.exitCode,
      );
    return failed(failure, result.output);
  }
  try {
    return { kind: 'ok', value: parse(result.stdout), stderr: result.stderr };
  } catch (err) {
    const output = `${result.stdout}\n${result.stderr}`;
    // Some tools exit 0 and print an error instead of their report (nvidia-smi's "No devices
    // were found"): the vendor classifier names that better than the parser's complaint.
    const failure = classify?.(output, 0) ?? toolFailure(vendor, command, `${shown} printed output that could not be read: ${errorText(err)}`, 0);
    return failed(failure, output);
  }
}

function failed(failure: ToolFailure, output: string): ToolOutcome<never> {
  return { kind: 'failed', failure, output };
}

function head(output: string): string {
  const text = output.trim().replace(/\s+/g, ' ');
  if (text === '') return ' and printed nothing';
  return `: ${text.length > HEAD_CHARS ? `${text.slice(0, HEAD_CHARS)}...` : text}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

import type { CommandSpec } from '@gpufleet/protocol';
import { errorText } from '../runtime/logger.js';
import type { RunHooks, RunningCommand, RunResult } from './command-runner.js';
import { OutputChunker } from './output-chunker.js';

export type ContainerSpec = Extract<CommandSpec, { kind: 'container' }>;

/** A container operation against the engine API (containers/index.ts: runContainerOp). */
export type ContainerOpFn = (
  spec: ContainerSpec,
  io: { onOutput(stream: 'stdout' | 'stderr', data: string): void; signal: AbortSignal },
  opts: { socketPath?: string },
) => Promise<{ exitCode: number }>;

export interface ContainerRunOptions {
  /** Resolves the operation lazily (the engine client loads only when a container command arrives). */
  op: () => Promise<ContainerOpFn>;
  socketPath?: string;
  timeoutMs: number;
  outputCapBytes?: number;
  chunkBytes?: number;
  flushMs?: number;
}

/** Exit code when the engine operation itself failed (Docker's CLI uses 125 for its own errors). */
export const CONTAINER_OP_FAILED = 125;

/**
 * Runs a container operation like a command: the same output chunks, cap and result shape;
 * timeout and cancel abort it through its AbortSignal.
 */
export function startContainerRun(spec: ContainerSpec, hooks: RunHooks, o: ContainerRunOptions): RunningCommand {
  const t0 = performance.now();
  const abort = new AbortController();
  let stopping: 'timeout' | 'cancel' | null = null;
  const chunker = new OutputChunker({ emit: hooks.onOutput, capBytes: o.outputCapBytes, chunkBytes: o.chunkBytes, flushMs: o.flushMs });
  const stop = (why: 'timeout' | 'cancel') => {
    if (stopping) return;
    stopping = why;
    abort.abort(new Error(why === 'timeout' ? 'timed out' : 'canceled'));
  };
  const timer = setTimeout(() => stop('timeout'), o.timeoutMs);
  hooks.onStart?.(null);
  const done = (async (): Promise<RunResult> => {
    let exitCode: number | null;
    try {
      const op = await o.op();
      // Canceled (or timed out) while the engine client loaded: do not start the operation at all.
      if (stopping) throw new Error(stopping);
      const res = await op(spec, { onOutput: (stream, data) => chunker.write(stream, data), signal: abort.signal }, { socketPath: o.socketPath });
      exitCode = Number.isInteger(res?.exitCode) ? res.exitCode : CONTAINER_OP_FAILED;
    } catch (err) {
      if (stopping) exitCode = null;
      else {
        chunker.write('stderr', `gpufleet-agent: container ${spec.op} ${spec.container} failed: ${errorText(err)}\n`);
        exitCode = CONTAINER_OP_FAILED;
      }
    } finally {
      clearTimeout(timer);
    }
    chunker.close();
    return {
      exitCode,
      signal: null,
      timedOut: stopping === 'timeout',
      canceled: stopping === 'cancel',
      durationMs: Math.max(0, Math.round(performance.now() - t0)),
      outputBytes: chunker.outputBytes,
      truncated: chunker.truncated,
    };
  })();
  return { done, cancel: () => stop('cancel') };
}

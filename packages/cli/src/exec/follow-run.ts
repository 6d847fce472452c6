import { seg, type ApiClient, type Connection } from '../api-client.js';
import { CliError } from '../errors.js';
import type { CliIo } from '../io.js';
import { RunPrinter } from './run-printer.js';
import type { RunOutputChunk, RunTargetView, RunView } from './run-types.js';
import { openEventStream, type SseEvent, type SseStream } from './sse-client.js';

export interface FollowDeps {
  io: CliIo;
  conn: Connection;
  client: ApiClient;
  now: () => number;
}

export interface FollowOptions {
  /** A progress bar on stderr (terminals). */
  progress: boolean;
  /** Only this host's output (node id). */
  nodeId?: string;
  /** Print output lines (false: only follow to the end, for -o json). */
  print: boolean;
  /** How long to wait between polls when the live stream is lost (default 1 s). */
  pollMs?: number;
}

/** A run being followed: `result` resolves with the final run; `detach()` stops following early. */
export interface Following {
  result: Promise<RunView>;
  detach(): void;
}

function parse<T>(e: SseEvent): T {
  try {
    return JSON.parse(e.data) as T;
  } catch {
    throw new CliError(`the control plane sent a '${e.event}' event that is not JSON`);
  }
}

/**
 * Follows a run over its SSE stream (snapshot, output so far, live output and target changes,
 * done), printing as it goes, and resolves with the final run read back from the API. If the
 * stream is lost before `done`, it says so and polls until the run is over.
 */
export function followRun(d: FollowDeps, runId: string, o: FollowOptions): Following {
  const printer = new RunPrinter(d.io, { progress: o.progress, now: d.now });
  let stream: SseStream | null = null;
  let detached = false;
  let done = false;
  let failure: Error | null = null;

  const onEvent = (e: SseEvent) => {
    try {
      switch (e.event) {
        case 'run':
          printer.hostsAre(parse<RunView>(e).targets ?? []);
          return;
        case 'target':
          printer.target(parse<RunTargetView>(e));
          return;
        case 'output': {
          const chunk = parse<RunOutputChunk>(e);
          if (o.print && (o.nodeId === undefined || chunk.nodeId === o.nodeId)) printer.output(chunk);
          return;
        }
        case 'done':
          done = true;
          stream?.close();
          return;
        case 'error':
          failure = new CliError(`following run ${runId} failed: ${parse<{ message?: string }>(e).message ?? 'unknown error'}`);
          stream?.close();
          return;
      }
    } catch (err) {
      failure = err as Error;
      stream?.close();
    }
  };

  const result = (async () => {
    stream = await openEventStream(d.conn, `/api/v1/runs/${seg(runId)}/stream`, onEvent);
    if (detached) stream.close();
    await stream.ended;
    printer.finish();
    if (failure) throw failure;
    if (detached) throw new CliError(`stopped following run ${runId}; it goes on without you: \`gpufleet runs get ${runId}\``, { exitCode: 130 });
    if (!done) {
      d.io.err(`the live stream of run ${runId} ended early; waiting for the run to finish\n`);
      for (;;) {
        const view = await d.client.get<RunView>(`/api/v1/runs/${seg(runId)}`);
        if (view.state !== 'running') return view;
        if (detached) throw new CliError(`stopped following run ${runId}; it goes on without you: \`gpufleet runs get ${runId}\``, { exitCode: 130 });
        await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
      }
    }
    return d.client.get<RunView>(`/api/v1/runs/${seg(runId)}`);
  })();

  return {
    result,
    detach() {
      detached = true;
      stream?.close();
    },
  };
}

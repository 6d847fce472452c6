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

/** Reconnects after a live stream ends early, and the pause before each (ms). */
const RECONNECT_DELAYS_MS = [250, 500, 1000];

/**
 * Reads a run's SSE stream until `settled()` (done, failed or detached), reconnecting up to three
 * times when it ends before that: a new stream replays the output so far, which the caller skips
 * by chunk. `current` gets each stream, so the caller can close it. Resolves when it gave up or
 * the run settled.
 */
export async function readRunStream(
  conn: Connection,
  io: CliIo,
  runId: string,
  onEvent: (e: SseEvent) => void,
  o: { settled: () => boolean; current: (s: SseStream) => void },
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const stream = await openEventStream(conn, `/api/v1/runs/${seg(runId)}/stream`, onEvent);
    o.current(stream);
    if (o.settled()) stream.close();
    await stream.ended;
    if (o.settled() || attempt >= RECONNECT_DELAYS_MS.length) return;
    io.err(`the live stream of run ${runId} ended early; reconnecting\n`);
    await new Promise((r) => setTimeout(r, RECONNECT_DELAYS_MS[attempt]));
    if (o.settled()) return;
  }
}

/**
 * Follows a run over its SSE stream (snapshot, output so far, live output and target changes,
 * done), printing as it goes, and resolves with the final run read back from the API. If the
 * stream ends before `done` (a proxy's timeout, or the server closing a reader that fell far
 * behind) it reconnects: the new stream replays the output so far, and chunks already printed are
 * skipped, so nothing is lost or printed twice. After the last reconnect it says so and polls
 * until the run is over.
 */
export function followRun(d: FollowDeps, runId: string, o: FollowOptions): Following {
  const printer = new RunPrinter(d.io, { progress: o.progress, now: d.now });
  let stream: SseStream | null = null;
  let detached = false;
  let done = false;
  let failure: Error | null = null;
  /** Output chunks printed, as `node \0 stream \0 chunk`: a replayed chunk is printed once. */
  const printed = new Set<string>();

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
          const key = `${chunk.nodeId}\0${chunk.stream}\0${chunk.chunk}`;
          if (printed.has(key)) return;
          printed.add(key);
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
    await readRunStream(d.conn, d.io, runId, onEvent, { settled: () => done || failure !== null || detached, current: (s) => (stream = s) });
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

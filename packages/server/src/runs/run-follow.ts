import type { EventHub, RunHubEvent } from '../events/event-hub.js';
import type { RunService } from './run-service.js';
import { runView, targetView } from './run-views.js';

/** Where a follower writes: SSE in the REST adapter, an array in tests. */
export interface FollowSink {
  send(event: string, data: unknown): void;
  /** The run is over (after `done`) or following failed (after `error`). */
  end(): void;
  /** Resolves when the reader can take more: the history is paced by it, never piled up. */
  ready?(): Promise<void>;
}

const chunkKey = (nodeId: string, stream: string, chunk: number) => `${nodeId}\u0000${stream}\u0000${chunk}`;

/**
 * Follows one run for a live view: first `run` (the run with every target as it is now), then
 * the output stored so far as `output` events, then live `target` and `output` events, and `done`
 * once every target is final. Live events are held back while the history is read and then sent
 * without the chunks the history already had, so a late follower misses nothing and sees nothing
 * twice. Returns the function that stops following.
 */
export function followRun(d: { runs: RunService; hub: EventHub }, runId: string, sink: FollowSink): () => void {
  let closed = false;
  let live = false;
  let ended = false;
  const held: RunHubEvent[] = [];
  const seen = new Set<string>();

  const finish = (event: 'done' | 'error', data: unknown) => {
    if (ended || closed) return;
    ended = true;
    sink.send(event, data);
    sink.end();
  };
  const deliver = (e: RunHubEvent) => {
    if (ended || closed) return;
    if (e.change === 'target') sink.send('target', targetView(e.target));
    else if (e.change === 'output') {
      const o = e.output;
      if (seen.delete(chunkKey(o.nodeId, o.stream, o.chunk))) return;
      sink.send('output', { nodeId: o.nodeId, stream: o.stream, chunk: o.chunk, data: o.data });
    } else if (e.change === 'finished') {
      const record = d.runs.live(runId)?.record;
      finish('done', record ? runView(record) : { id: runId, state: e.state });
    }
  };
  const unsubscribe = d.hub.subscribe((e) => {
    if (e.type !== 'run' || e.runId !== runId || closed) return;
    if (live) deliver(e);
    else held.push(e);
  });

  void (async () => {
    try {
      await d.runs.flush();
      const snapshot = await d.runs.get(runId);
      if (closed) return;
      sink.send('run', snapshot);
      for (let after: number | null = 0; after !== null && !closed; ) {
        const page: Awaited<ReturnType<RunService['output']>> = await d.runs.output({ runId, after, limit: 1000 });
        for (const o of page.items) {
          seen.add(chunkKey(o.nodeId, o.stream, o.chunk));
          sink.send('output', { nodeId: o.nodeId, stream: o.stream, chunk: o.chunk, data: o.data });
          await sink.ready?.();
        }
        after = page.next;
      }
      live = true;
      for (const e of held.splice(0)) deliver(e);
      if (snapshot.state !== 'running') finish('done', { ...snapshot, targets: undefined });
    } catch (err) {
      finish('error', { message: err instanceof Error ? err.message : String(err) });
    }
  })();

  return () => {
    closed = true;
    unsubscribe();
  };
}

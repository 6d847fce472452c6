import type { EventHub } from '../events/event-hub.js';
import type { FollowSink } from '../runs/run-follow.js';
import { isFinalStatus } from './alloc-reports.js';
import type { WorkloadReads } from './workload-reads.js';

const PAGE = 1000;

/**
 * Follows one allocation's output for a live view: every stored chunk after `after` as `output`
 * (one item: id, stream, chunk, data, at), read from the store whenever the hub says new output
 * was stored or the allocation changed, then `end` (the allocation) once it has ended and its
 * output is read to the end. Reading by item id, a late follower misses nothing and sees nothing
 * twice. Returns the function that stops following.
 */
export function followAllocLogs(d: { reads: WorkloadReads; hub: EventHub }, allocId: string, after: number, sink: FollowSink): () => void {
  let closed = false;
  let dirty = true;
  let wake: (() => void) | null = null;
  const unsubscribe = d.hub.subscribe((e) => {
    if (e.type !== 'workload' || e.allocId !== allocId) return;
    dirty = true;
    wake?.();
  });
  const finish = (event: 'end' | 'error', data: unknown) => {
    if (closed) return;
    closed = true;
    unsubscribe();
    sink.send(event, data);
    sink.end();
  };

  void (async () => {
    let last = after;
    try {
      while (!closed) {
        dirty = false;
        for (;;) {
          const page = await d.reads.output(allocId, { after: last, limit: PAGE });
          for (const item of page.items) {
            if (closed) return;
            sink.send('output', item);
            last = item.id;
            await sink.ready?.();
          }
          if (page.next === null) break;
        }
        const alloc = await d.reads.allocation(allocId);
        if (isFinalStatus(alloc.status) && !dirty) return finish('end', alloc);
        if (!dirty && !closed) await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    } catch (err) {
      finish('error', { message: err instanceof Error ? err.message : String(err) });
    }
  })();

  return () => {
    closed = true;
    unsubscribe();
    wake?.();
  };
}

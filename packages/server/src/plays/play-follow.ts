import type { PlayService, PlayUpdate } from './play-service.js';

/** Where a follower writes: SSE in the REST adapter, an array in tests. */
export interface PlayFollowSink {
  send(event: 'event' | 'end' | 'error', data: unknown): void;
  end(): void;
  ready?(): Promise<void>;
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELED']);

/**
 * Follows one play: the stored events (`event`, paged), then live ones, then `end` with the play.
 * Live updates are held while the history is read and sent without the seqs it already had, so a
 * late follower misses nothing and sees nothing twice. Starts after `after` (a reconnect's cursor).
 */
export function followPlay(plays: PlayService, playId: string, after: number, sink: PlayFollowSink): () => void {
  let closed = false;
  let live = false;
  let ended = false;
  let last = after;
  const held: PlayUpdate[] = [];

  const deliver = (u: PlayUpdate) => {
    if (ended || closed) return;
    if (u.type === 'event') {
      if (u.event.seq <= last) return;
      last = u.event.seq;
      sink.send('event', u.event);
    } else {
      ended = true;
      sink.send('end', u.play);
      sink.end();
    }
  };
  const unsubscribe = plays.subscribe(
    playId,
    (u) => {
      if (live) deliver(u);
      else held.push(u);
    },
    after,
  );

  void (async () => {
    try {
      for (;;) {
        const page = await plays.events(playId, last, 1000);
        for (const e of page.items) {
          if (closed) return;
          last = e.seq;
          sink.send('event', e);
          await sink.ready?.();
        }
        if (page.items.length < 1000) break;
      }
      live = true;
      for (const u of held.splice(0)) deliver(u);
      if (!ended) {
        const now = await plays.get(playId);
        if (TERMINAL.has(now.state)) {
          // Ended before we subscribed, or between the history and now: its log is complete in the store.
          for (const e of (await plays.events(playId, last, 10_000)).items) deliver({ type: 'event', event: e });
          deliver({ type: 'end', play: now });
        }
      }
    } catch (err) {
      if (ended || closed) return;
      ended = true;
      sink.send('error', { message: err instanceof Error ? err.message : String(err) });
      sink.end();
    }
  })();

  return () => {
    closed = true;
    unsubscribe();
  };
}

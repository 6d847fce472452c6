import { useEffect, useRef, useState } from 'react';
import type { ApiClient } from './api.js';
import { mergePlayEvents, playApiPath, type PlayEventView, type PlayView } from './job-center.js';

/** How often the log is polled when the live stream cannot be had. */
export const PLAY_POLL_MS = 1_000;
/** Lines asked for per poll. */
const PAGE = 1000;

export interface PlayLog {
  events: PlayEventView[];
  /** stream: SSE; poll: reading /events?after= because the stream was refused or lost; ended: nothing more will come. */
  mode: 'stream' | 'poll' | 'ended';
  error: string | null;
}

/**
 * Follows a play's log: its SSE stream (`event` lines, then `end` with the final play), or,
 * when the browser has no EventSource or the stream is refused or lost, polling
 * `/events?after=` from the last line held until the play is over. Lines are kept once each,
 * in order. `onChange` is told of every line and of the end, so the page reads the play again.
 */
export function usePlayLog(api: ApiClient, playId: string, onChange: (ended: PlayView | null) => void): PlayLog {
  const [log, setLog] = useState<PlayLog>({ events: [], mode: 'stream', error: null });
  const changed = useRef(onChange);
  changed.current = onChange;

  useEffect(() => {
    let stopped = false;
    let es: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let last = 0;
    const add = (more: PlayEventView[]) => {
      if (more.length === 0) return;
      last = Math.max(last, ...more.map((e) => e.seq));
      setLog((l) => ({ ...l, events: mergePlayEvents(l.events, more) }));
    };
    const end = (play: PlayView | null) => {
      if (stopped) return;
      stopped = true;
      es?.close();
      setLog((l) => ({ ...l, mode: 'ended' }));
      changed.current(play);
    };
    const poll = async () => {
      if (stopped) return;
      try {
        const page = await api.get<{ items: PlayEventView[]; next: number }>(`${playApiPath(playId)}/events?after=${last}&limit=${PAGE}`);
        if (stopped) return;
        add(page.items);
        if (page.items.length > 0) changed.current(null);
        if (page.items.length < PAGE) {
          const play = await api.get<PlayView>(playApiPath(playId));
          // Over, and every line read: lines written before the end are all stored by now.
          if (play.state !== 'PENDING' && play.state !== 'RUNNING') {
            const rest = await api.get<{ items: PlayEventView[] }>(`${playApiPath(playId)}/events?after=${last}&limit=${PAGE}`);
            add(rest.items);
            return end(play);
          }
        }
        setLog((l) => (l.error ? { ...l, error: null } : l));
      } catch (err) {
        if (stopped) return;
        setLog((l) => ({ ...l, error: err instanceof Error ? err.message : String(err) }));
      }
      if (!stopped) timer = setTimeout(() => void poll(), PLAY_POLL_MS);
    };
    const toPolling = () => {
      es?.close();
      es = null;
      setLog((l) => ({ ...l, mode: 'poll' }));
      void poll();
    };

    if (typeof EventSource === 'undefined') toPolling();
    else {
      es = new EventSource(api.streamUrl(`${playApiPath(playId)}/stream`));
      es.addEventListener('event', (ev) => {
        try {
          add([JSON.parse((ev as MessageEvent<string>).data) as PlayEventView]);
          changed.current(null);
        } catch {
          // A line that is not a log event is skipped; the next poll or line goes on.
        }
      });
      es.addEventListener('end', (ev) => {
        let play: PlayView | null = null;
        try {
          play = JSON.parse((ev as MessageEvent<string>).data) as PlayView;
        } catch {
          // The page reads the play itself.
        }
        end(play);
      });
      es.addEventListener('error', (ev) => {
        if (stopped) return;
        const data = (ev as MessageEvent<unknown>).data;
        if (typeof data === 'string') {
          // The server's own `error` event: it could not follow the play; the log is read instead.
          let message = 'the server could not follow the play';
          try {
            message = (JSON.parse(data) as { message?: string }).message ?? message;
          } catch {
            // Not JSON: the generic message says enough.
          }
          setLog((l) => ({ ...l, error: message }));
          return toPolling();
        }
        // The browser retries a dropped stream itself; one it gave up on is followed by polling.
        if (es && es.readyState === EventSource.CLOSED) toPolling();
      });
    }
    return () => {
      stopped = true;
      es?.close();
      if (timer) clearTimeout(timer);
    };
  }, [api, playId]);

  return log;
}

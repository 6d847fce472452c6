import type { PlayView } from '@gpufleet/protocol';
import type { Store } from '../store/store.js';
import { eventView } from './play-log.js';
import type { PlayListener } from './play-service.js';

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELED']);
const PAGE = 1000;

export interface StoredPlayFollowOptions {
  store: Store;
  playId: string;
  /** The last seq the listener has. */
  after: number;
  /** How often the store is read (the runner stores events every 100 ms or so). */
  everyMs: number;
  /** The play as the API shows it, once it ended. */
  view: () => Promise<PlayView>;
  listener: PlayListener;
  onError: (err: unknown) => void;
}

/**
 * Follows a play another replica runs, from the store: its live updates exist only in that
 * replica's process, but everything it stores (events, then the play's end) is shared, so a
 * follower here reads new events every `everyMs` and hears the end once the play's record is
 * finished. The runner stores events before the end, so the events read after seeing the end
 * are the last ones. Returns stop.
 */
export function followStoredPlay(o: StoredPlayFollowOptions): () => void {
  let stopped = false;
  let last = o.after;
  let timer: NodeJS.Timeout | null = null;

  const readEvents = async () => {
    for (;;) {
      const page = await o.store.listPlayEvents(o.playId, last, PAGE);
      for (const e of page) {
        if (stopped) return;
        last = e.seq;
        o.listener({ type: 'event', event: eventView(e) });
      }
      if (page.length < PAGE) return;
    }
  };

  const poll = async () => {
    timer = null;
    try {
      await readEvents();
      const play = await o.store.getPlay(o.playId);
      if (stopped) return;
      if (play === undefined || TERMINAL.has(play.state)) {
        await readEvents();
        if (!stopped && play !== undefined) o.listener({ type: 'end', play: await o.view() });
        stopped = true;
        return;
      }
    } catch (err) {
      o.onError(err);
    }
    if (!stopped) timer = setTimeout(() => void poll(), o.everyMs);
  };
  timer = setTimeout(() => void poll(), 0);

  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useApi } from '../lib/auth.js';
import { query } from '../lib/api.js';
import { eventItems, eventsCursor, eventTone, mergeEvents, poolApiPath, type PoolEventView } from '../lib/pools.js';
import { Empty, QueryView, Time } from './states.js';
import './pools.css';

/** How often the timeline asks for events after the newest it holds. */
export const POOL_EVENTS_POLL_MS = 3_000;
/** The first page: the newest this many. */
const FIRST_PAGE = 50;
/** Each later page: up to this many after the cursor (the rest come on the next poll). */
const NEXT_PAGE = 200;

const TONE_CLASS = { good: 'badge-ok', busy: 'badge-warning', bad: 'badge-error', idle: '' } as const;

/**
 * The pool's decisions and steps, newest first. The first call takes the newest page; each poll
 * after that asks only for events after the newest id held (the route's `after` cursor) and
 * merges them in, so a long timeline is never read twice.
 */
export function PoolEvents({ pool }: { pool: string }) {
  const api = useApi();
  const qc = useQueryClient();
  const key = ['pool-events', pool];
  const q = useQuery({
    queryKey: key,
    queryFn: async () => {
      const held = qc.getQueryData<PoolEventView[]>(key) ?? [];
      const after = eventsCursor(held);
      const path = `${poolApiPath(pool)}/events${query(after === null ? { limit: FIRST_PAGE } : { after, limit: NEXT_PAGE })}`;
      const page = eventItems(await api.get<{ items?: unknown }>(path));
      return mergeEvents(held, page);
    },
    refetchInterval: POOL_EVENTS_POLL_MS,
  });
  return (
    <QueryView q={q} what="Loading the pool's events">
      {(events) =>
        events.length === 0 ? (
          <Empty>No decisions yet.</Empty>
        ) : (
          <ol className="timeline pool-events" data-testid="pool-events" data-count={events.length} aria-label="Decisions, newest first">
            {events.map((e) => (
              <li key={e.id} data-testid="pool-event" data-id={e.id} data-kind={e.kind}>
                <span className={`badge ${TONE_CLASS[eventTone(e.kind)]}`}>{e.kind}</span>
                <span className="pool-event-message">{e.message}</span>
                <span className="muted">
                  <Time at={e.at} />
                </span>
              </li>
            ))}
          </ol>
        )
      }
    </QueryView>
  );
}

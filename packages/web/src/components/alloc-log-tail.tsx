import { useLayoutEffect, useMemo, useRef, useState } from 'react';
import { useApi } from '../lib/auth.js';
import { useLive } from '../lib/live.js';
import { useEventStream } from '../lib/sse.js';
import { appendLog, EMPTY_LOG, type LogState } from '../lib/containers.js';
import { allocLabel, allocLogItemOf, isFinalAlloc, type AllocationView } from '../lib/workloads.js';
import './workloads.css';

/** How close to the bottom (px) still counts as "at the bottom": the pane keeps following there. */
const STICK_SLACK_PX = 24;

/**
 * The live log of one allocation: its stored output, then new output as the host sends it
 * (SSE GET /allocations/{id}/logs/stream), in a monospace pane that keeps to the bottom unless
 * the reader scrolls up, holding only the last lines. The stream says `end` once the allocation
 * is over; it is closed then (a browser would otherwise reopen it for ever).
 */
export function AllocLogTail({ alloc, onClose }: { alloc: AllocationView; onClose: () => void }) {
  const api = useApi();
  const { registry } = useLive();
  const [log, setLog] = useState<LogState>(EMPTY_LOG);
  const [ended, setEnded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [following, setFollowing] = useState(true);
  const seen = useRef(new Set<string>());
  const pane = useRef<HTMLPreElement>(null);

  const url = useMemo(() => (ended ? null : api.streamUrl(`/api/v1/allocations/${encodeURIComponent(alloc.id)}/logs/stream?after=0`)), [api, alloc.id, ended]);
  const status = useEventStream(
    url,
    {
      output: (data) => {
        const item = allocLogItemOf(data);
        if (!item) return;
        // A reconnect replays the stored output: each piece is shown once.
        const key = String(item.id);
        if (seen.current.has(key)) return;
        seen.current.add(key);
        setLog((s) => appendLog(s, item.stream, item.data));
      },
      end: () => setEnded(true),
      error: (data) => {
        setError((data as { message?: string })?.message ?? 'the server could not follow the log');
        setEnded(true);
      },
    },
    registry,
  );

  // New lines keep the pane at the bottom, unless the reader scrolled up to read.
  useLayoutEffect(() => {
    const el = pane.current;
    if (el && following) el.scrollTop = el.scrollHeight;
  }, [log, following]);
  const onScroll = () => {
    const el = pane.current;
    if (!el) return;
    setFollowing(el.scrollHeight - el.scrollTop - el.clientHeight <= STICK_SLACK_PX);
  };

  const label = allocLabel(alloc);
  const live = !ended && status === 'live';
  return (
    <div className="alloc-log-tail" data-testid="alloc-log-tail" data-alloc={alloc.id} data-ended={ended}>
      <div className="alloc-log-head">
        <h3>
          Log of <span className="mono">{label}</span> <span className="muted">on {alloc.hostname}</span>
        </h3>
        <span className={`badge ${live ? 'badge-live' : ''}`} data-testid="alloc-log-status">
          {ended ? 'ended' : live ? 'live' : status}
        </span>
        <button type="button" className="btn btn-small" onClick={onClose} data-testid="alloc-log-close">
          Close
        </button>
      </div>
      <pre
        ref={pane}
        className="output alloc-log"
        onScroll={onScroll}
        role="log"
        aria-label={`Log of ${label}`}
        aria-live="off"
        data-testid="alloc-log"
        data-lines={log.lines.length}
      >
        {log.dropped > 0 && <span className="muted">{`… ${log.dropped.toLocaleString('en')} earlier lines not kept\n`}</span>}
        {log.lines.length === 0 ? (
          <span className="muted">{ended ? 'no output' : 'waiting for output…'}</span>
        ) : (
          log.lines.map((l) => <span key={l.id} className={l.stream}>{`${l.text}\n`}</span>)
        )}
      </pre>
      {!following && !ended && (
        <button type="button" className="btn btn-small" onClick={() => setFollowing(true)} data-testid="alloc-log-jump">
          Jump to the newest lines
        </button>
      )}
      {ended && !error && (
        <p className="muted" role="status" data-testid="alloc-log-end">
          {isFinalAlloc(alloc) ? `The allocation is ${alloc.status}: its log ended.` : 'The log ended.'}
        </p>
      )}
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

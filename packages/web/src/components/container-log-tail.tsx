import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { RunTargetView, RunView } from '@gpufleet/protocol';
import { useApi } from '../lib/auth.js';
import { useLive } from '../lib/live.js';
import { useEventStream } from '../lib/sse.js';
import { cancelRun } from '../lib/run-follow.js';
import { appendLog, EMPTY_LOG, StreamByHost, targetProblems, type LogState, type LogStream, type OutputPiece } from '../lib/containers.js';

/** How close to the bottom (px) still counts as "at the bottom": the pane keeps following there. */
const STICK_SLACK_PX = 24;

/** Why the tail ended, in words, once its run is over. */
function endText(view: RunView | null, stoppedByUs: boolean, stderr: StreamByHost): { text: string; problem: boolean } {
  const targets = view?.targets ?? [];
  const problems = targetProblems(targets, (id) => stderr.text(id), { endedIsOk: true });
  if (problems.length > 0) return { text: problems.map((p) => `${p.hostname} ${p.message}${p.hint ? ` ${p.hint}` : ''}`).join(' · '), problem: true };
  if (stoppedByUs || targets.some((t) => t.state === 'canceled')) return { text: 'Stopped.', problem: false };
  if (targets.some((t) => t.state === 'timed_out')) return { text: 'The tail reached its time limit; open it again to go on.', problem: false };
  return { text: 'The log ended: the container stopped.', problem: false };
}

/**
 * A live tail of one container's log: follows a `logs` run (already submitted) over its SSE
 * stream into a monospace pane that keeps to the bottom unless the reader scrolls up, holding
 * only the last lines. Stop cancels the run; so does leaving (unmount) while it still runs.
 */
export function ContainerLogTail({ runId, container, hostname, onClose }: { runId: string; container: string; hostname: string; onClose: () => void }) {
  const api = useApi();
  const { registry } = useLive();
  const [log, setLog] = useState<LogState>(EMPTY_LOG);
  const [view, setView] = useState<RunView | null>(null);
  const [finished, setFinished] = useState(false);
  const [stopping, setStopping] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [following, setFollowing] = useState(true);
  const seen = useRef(new Set<string>());
  const stderr = useRef(new StreamByHost('stderr'));
  const pane = useRef<HTMLPreElement>(null);
  const finishedRef = useRef(false);
  finishedRef.current = finished;

  const url = useMemo(() => (finished ? null : api.streamUrl(`/api/v1/runs/${encodeURIComponent(runId)}/stream`)), [api, runId, finished]);
  const status = useEventStream(
    url,
    {
      run: (data) => setView(data as RunView),
      target: (data) => {
        const t = data as RunTargetView;
        if (!t || typeof t.nodeId !== 'string') return;
        setView((v) => (v ? { ...v, targets: (v.targets ?? []).map((x) => (x.nodeId === t.nodeId ? t : x)) } : v));
      },
      output: (data) => {
        const p = data as OutputPiece;
        if (!p || typeof p.nodeId !== 'string' || typeof p.data !== 'string' || typeof p.chunk !== 'number') return;
        // A reconnect replays the stored output: each chunk is shown once.
        const key = `${p.nodeId}\u0000${p.stream}\u0000${p.chunk}`;
        if (seen.current.has(key)) return;
        seen.current.add(key);
        stderr.current.add(p);
        const stream: LogStream = p.stream === 'stderr' || p.stream === 'truncated' ? p.stream : 'stdout';
        setLog((s) => appendLog(s, stream, p.data));
      },
      done: () => {
        setFinished(true);
        api.get<RunView>(`/api/v1/runs/${encodeURIComponent(runId)}`).then(setView, (err: Error) => setError(err.message));
      },
      error: (data) => {
        setError((data as { message?: string })?.message ?? 'the server could not follow the log');
        setFinished(true);
      },
    },
    registry,
  );

  // Leaving the page (or opening another tail) stops this one on the host. Deferred, so that
  // React's development double mount (unmount, then mount again at once) takes it back.
  const leaving = useRef<ReturnType<typeof setTimeout> | null>(null);
  const cancelSent = useRef(false);
  useEffect(() => {
    if (leaving.current) clearTimeout(leaving.current);
    leaving.current = null;
    return () => {
      leaving.current = setTimeout(() => {
        if (!finishedRef.current && !cancelSent.current) void cancelRun(api, runId).catch(() => undefined);
      }, 0);
    };
  }, [api, runId]);

  // Closing the tab or the browser unmounts nothing: stop the tail on the host as the page goes.
  useEffect(() => {
    const onPageHide = () => {
      if (finishedRef.current || cancelSent.current) return;
      cancelSent.current = true;
      void cancelRun(api, runId, { keepalive: true }).catch(() => undefined);
    };
    window.addEventListener('pagehide', onPageHide);
    return () => window.removeEventListener('pagehide', onPageHide);
  }, [api, runId]);

  // New lines keep the pane at the bottom, unless the reader scrolled up to read.
  useLayoutEffect(() => {
    const el = pane.current;
    if (el && following) el.scrollTop = el.scrollHeight;
  }, [following]);
  const onScroll = () => {
    const el = pane.current;
    if (!el) return;
    setFollowing(el.scrollHeight - el.scrollTop - el.clientHeight <= STICK_SLACK_PX);
  };

  const stop = () => {
    setStopping(true);
    cancelRun(api, runId).catch((err: Error) => {
      setStopping(false);
      setError(`could not stop the tail: ${err.message}`);
    });
  };

  const ended = finished ? endText(view, stopping, stderr.current) : null;
  const live = !finished && status === 'live';
  return (
    <div className="container-log-tail" data-testid="container-log-tail" data-container={container} data-finished={finished}>
      <div className="container-log-head">
        <h3>
          Log of <span className="mono">{container}</span> <span className="muted">on {hostname}</span>
        </h3>
        <span className={`badge ${live ? 'badge-live' : ''}`} data-testid="container-log-status">
          {finished ? 'ended' : stopping ? 'stopping' : live ? 'live' : status}
        </span>
        <span className="container-log-buttons">
          {!finished && (
            <button type="button" className="btn btn-small" onClick={stop} disabled={stopping} data-testid="container-log-stop">
              Stop
            </button>
          )}
          <button type="button" className="btn btn-small" onClick={onClose} data-testid="container-log-close">
            Close
          </button>
        </span>
      </div>
      <pre
        ref={pane}
        className="output container-log"
        onScroll={onScroll}
        role="log"
        aria-label={`Log of ${container}`}
        aria-live="off"
        data-testid="container-log"
        data-lines={log.lines.length}
        data-dropped={log.dropped}
      >
        {log.dropped > 0 && <span className="muted">{`… ${log.dropped.toLocaleString('en')} earlier lines not kept\n`}</span>}
        {log.lines.length === 0 && !finished ? (
          <span className="muted">waiting for lines…</span>
        ) : (
          log.lines.map((l) => <span key={l.id} className={l.stream}>{`${l.text}\n`}</span>)
        )}
      </pre>
      {!following && !finished && (
        <button type="button" className="btn btn-small container-log-jump" onClick={() => setFollowing(true)} data-testid="container-log-jump">
          Jump to the newest lines
        </button>
      )}
      {ended && (
        <p className={ended.problem ? 'form-error' : 'muted'} role={ended.problem ? 'alert' : 'status'} data-testid="container-log-end">
          {ended.text}
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

import { useEffect, useRef } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError } from '../lib/api.js';
import { useApi, useCan } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import { nodePath } from '../lib/node-path.js';
import { playApiPath, playIsOver, templatePagePath, type PlayEventView, type PlayHostStats, type PlayView } from '../lib/job-center.js';
import { usePlayLog } from '../lib/play-follow.js';
import { Badge, Empty, ErrorBox, Loading, Time } from '../components/states.js';
import { useConfirm } from '../components/dialog.js';
import { CliHint } from '../components/cli-hint.js';
import '../components/job-center.css';

/** How often the play itself is read while it runs (per-host stats), besides after each log line. */
const PLAY_REFRESH_MS = 2_000;

/** One log line as people read it: `TASK [ping]`, `gpu-07: ok ping pong`, or ansible's own text. */
export function logLineText(e: PlayEventView): string {
  if (e.kind === 'task') return `TASK [${e.task ?? e.message}]`;
  if (e.kind === 'host') return `${e.host ?? '?'}: ${e.status ?? ''}${e.task ? ` [${e.task}]` : ''}${e.message ? ` ${e.message}` : ''}`;
  if (e.kind === 'play') return `PLAY ${e.message}`;
  if (e.kind === 'recap') return `RECAP ${e.host ? `${e.host}: ` : ''}${e.message}`;
  return e.message;
}

function HostStats({ hosts }: { hosts: PlayHostStats[] }) {
  if (hosts.length === 0) return <Empty>No host yet: the play picks them when it starts.</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Host</th>
            <th>State</th>
            <th className="num">ok</th>
            <th className="num">changed</th>
            <th className="num">failed</th>
            <th className="num">unreachable</th>
            <th className="num">skipped</th>
          </tr>
        </thead>
        <tbody>
          {hosts.map((h) => (
            <tr
              key={h.nodeId}
              data-testid="play-host"
              data-hostname={h.hostname}
              data-state={h.state}
              data-ok={h.ok}
              data-failed={h.failed}
              data-changed={h.changed}
            >
              <td>
                <Link to={nodePath(h.nodeId)} className="mono">
                  {h.hostname}
                </Link>
              </td>
              <td>
                <Badge value={h.state} />
              </td>
              <td className="num">{h.ok}</td>
              <td className="num">{h.changed}</td>
              <td className="num">{h.failed}</td>
              <td className="num">{h.unreachable}</td>
              <td className="num">{h.skipped}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The log, kept scrolled to its end while the reader is at the end. */
function LiveLog({ events, mode, error }: { events: PlayEventView[]; mode: string; error: string | null }) {
  const box = useRef<HTMLElement>(null);
  const atEnd = useRef(true);
  useEffect(() => {
    if (box.current && atEnd.current) box.current.scrollTop = box.current.scrollHeight;
  }, [events]);
  return (
    <>
      <p className="muted" data-testid="play-log-mode" data-mode={mode}>
        {mode === 'stream' ? 'Live.' : mode === 'poll' ? 'The live stream is not available: reading the log every second.' : 'The play is over.'}
        {error && <span className="form-error"> {error}</span>}
      </p>
      {/* A focusable region so the log scrolls by keyboard too. */}
      <section
        ref={box}
        className="jc-log"
        data-testid="play-log"
        data-lines={events.length}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take the focus to scroll by keyboard
        tabIndex={0}
        aria-label="Play log"
        onScroll={(e) => {
          const el = e.currentTarget;
          atEnd.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
        }}
      >
        <pre>
          {events.length === 0
            ? 'No output yet.'
            : events.map((e) => (
                <div
                  key={e.seq}
                  className={e.status ? `jc-log-${e.status}` : undefined}
                  data-testid="play-log-line"
                  data-kind={e.kind}
                  data-status={e.status ?? ''}
                >
                  {logLineText(e)}
                </div>
              ))}
        </pre>
      </section>
    </>
  );
}

/** One play: its state and settings, per-host stats updating live, the live log, and Cancel for operators while it runs. */
export function PlayDetailPage({ playId }: { playId: string }) {
  const api = useApi();
  const qc = useQueryClient();
  const confirm = useConfirm();
  const canAct = useCan('operator');
  const key = ['play', playId];
  const q = useQuery({
    queryKey: key,
    queryFn: () => api.get<PlayView>(playApiPath(playId)),
    refetchInterval: (query) => (query.state.data && playIsOver(query.state.data.state) ? false : PLAY_REFRESH_MS),
  });
  const log = usePlayLog(api, playId, (ended) => {
    if (ended) qc.setQueryData(key, ended);
    else void qc.invalidateQueries({ queryKey: key });
  });
  const cancel = useMutation({
    mutationFn: () => api.post<PlayView>(`${playApiPath(playId)}/cancel`),
    onSuccess: (p) => {
      qc.setQueryData(key, p);
      void qc.invalidateQueries({ queryKey: ['plays'] });
    },
  });
  const askCancel = async () => {
    const ok = await confirm({
      title: 'Cancel this play?',
      body: 'ansible-playbook is interrupted (SIGINT, then killed after a grace period). Tasks already done on a host stay done.',
      confirmLabel: 'Cancel play',
      cancelLabel: 'Keep running',
      danger: true,
    });
    if (ok !== null) cancel.mutate();
  };

  if (q.isPending) return <Loading what="Loading play" />;
  if (q.error instanceof ApiError && q.error.status === 404)
    return (
      <Empty>
        No play <span className="mono">{playId}</span>. <Link to="/plays">Job center</Link>
      </Empty>
    );
  if (!q.data) return <ErrorBox error={q.error ?? 'not found'} retry={() => void q.refetch()} />;
  const p = q.data;
  return (
    <>
      <div className="toolbar">
        <h1 data-testid="play-title">
          Play <span className="mono">{p.id.slice(0, 12)}</span> <Badge value={p.state} testid="play-state" />
        </h1>
        {canAct && !playIsOver(p.state) && (
          <button type="button" className="btn btn-danger" disabled={cancel.isPending} onClick={() => void askCancel()} data-testid="play-cancel">
            {cancel.isPending ? 'Canceling…' : 'Cancel'}
          </button>
        )}
      </div>
      {q.error && <ErrorBox error={q.error} retry={() => void q.refetch()} />}
      {cancel.error && (
        <p className="form-error" role="alert" data-testid="play-cancel-error">
          {(cancel.error as Error).message}
        </p>
      )}
      <section className="card section" aria-labelledby="play-summary">
        <h2 id="play-summary">Summary</h2>
        <dl className="kv">
          <dt>Template</dt>
          <dd>
            <Link to={templatePagePath(p.template)} className="mono">
              {p.template}
            </Link>{' '}
            v{p.templateVersion}
            {p.check ? ' (check mode: nothing changed)' : ''}
          </dd>
          <dt>Hosts</dt>
          <dd className="mono">{p.selector}</dd>
          <dt>Serial</dt>
          <dd>{p.serial ?? 'all at once'}</dd>
          <dt>By</dt>
          <dd>
            {p.createdBy}
            {p.reason ? `: ${p.reason}` : ''}, <Time at={p.createdAt} />
          </dd>
          <dt>Ran</dt>
          <dd>
            {p.startedAt ? <Time at={p.startedAt} /> : 'not yet'}
            {p.endedAt && (
              <>
                {' '}
                to <Time at={p.endedAt} />
              </>
            )}
            {p.exitCode !== null && <span className="muted"> (exit {p.exitCode})</span>}
          </dd>
          {p.error && (
            <>
              <dt>Error</dt>
              <dd className="form-error" data-testid="play-error">
                {p.error}
              </dd>
            </>
          )}
        </dl>
      </section>
      <section className="section" aria-labelledby="play-hosts">
        <h2 id="play-hosts">Hosts</h2>
        <HostStats hosts={p.hosts} />
      </section>
      <section className="card section" aria-labelledby="play-log-title">
        <h2 id="play-log-title">Log</h2>
        <LiveLog events={log.events} mode={log.mode} error={log.error} />
      </section>
      <CliHint command={`gpufleet plays logs ${p.id} -f`} />
    </>
  );
}

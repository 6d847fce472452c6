import { useMemo, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useApi, useCan } from '../lib/auth.js';
import { useLive } from '../lib/live.js';
import { useEventStream } from '../lib/sse.js';
import { Link } from '../lib/router.js';
import { formatBytes, formatDuration } from '../lib/format.js';
import type { RunTargetView, RunView } from '../lib/types.js';
import { Badge, ErrorBox, Loading, Time } from '../components/states.js';
import { useConfirm } from '../components/dialog.js';
import { nodePath } from '../lib/node-path.js';

type Chunk = { stream: 'stdout' | 'stderr'; chunk: number; data: string };
const ACTIVE = new Set(['queued', 'sent', 'running', 'pending', 'active']);

/** One run: per-host state, live output per host, cancel. */
export function RunDetailPage({ runId }: { runId: string }) {
  const api = useApi();
  const qc = useQueryClient();
  const { registry } = useLive();
  const canCancel = useCan('operator');
  const [output, setOutput] = useState<Map<string, Chunk[]>>(new Map());
  const [done, setDone] = useState(false);
  const [host, setHost] = useState<string | null>(null);
  const q = useQuery({
    queryKey: ['run', runId],
    queryFn: () => api.get<RunView>(`/api/v1/runs/${encodeURIComponent(runId)}`),
    refetchInterval: done ? false : 5_000,
  });

  // The stream replays stored output, then goes live, then says `done`; it is closed after that.
  const url = useMemo(() => (done ? null : api.streamUrl(`/api/v1/runs/${encodeURIComponent(runId)}/stream`)), [api, runId, done]);
  useEventStream(
    url,
    {
      run: (data) => qc.setQueryData(['run', runId], data as RunView),
      target: (data) => {
        const t = data as RunTargetView;
        if (!t || typeof t.nodeId !== 'string') return;
        qc.setQueryData<RunView>(['run', runId], (r) => (r ? { ...r, targets: (r.targets ?? []).map((x) => (x.nodeId === t.nodeId ? t : x)) } : r));
      },
      output: (data) => {
        const o = data as { nodeId?: string } & Chunk;
        if (!o || typeof o.nodeId !== 'string' || typeof o.data !== 'string') return;
        setOutput((prev) => {
          const list = prev.get(o.nodeId!) ?? [];
          // A reconnect replays history: keep each (stream, chunk) once.
          if (list.some((c) => c.chunk === o.chunk && c.stream === o.stream)) return prev;
          const next = new Map(prev);
          next.set(o.nodeId!, [...list, { stream: o.stream, chunk: o.chunk, data: o.data }]);
          return next;
        });
      },
      done: () => {
        setDone(true);
        void qc.invalidateQueries({ queryKey: ['run', runId] });
      },
    },
    registry,
  );
  const confirm = useConfirm();
  const cancel = useMutation({
    mutationFn: () => api.post<RunView>(`/api/v1/runs/${encodeURIComponent(runId)}/cancel`, {}),
    onSuccess: (v) => qc.setQueryData<RunView>(['run', runId], (r) => ({ ...v, targets: v.targets ?? r?.targets })),
  });

  const askCancel = async () => {
    const ok = await confirm({
      title: 'Cancel this run?',
      body: 'Hosts that have not started are skipped and running commands are killed; hosts already done keep their results.',
      confirmLabel: 'Cancel run',
      cancelLabel: 'Keep running',
      danger: true,
    });
    if (ok !== null) cancel.mutate();
  };

  if (q.isPending) return <Loading what="Loading run" />;
  if (q.error || !q.data) return <ErrorBox error={q.error ?? 'not found'} retry={() => void q.refetch()} />;
  const r = q.data;
  const targets = r.targets ?? [];
  const shown = host ?? targets[0]?.nodeId ?? null;
  const chunks = shown ? (output.get(shown) ?? []) : [];
  return (
    <>
      <h1 data-testid="run-title">
        Run <span className="mono">{r.id.slice(0, 12)}</span> <Badge value={r.state} testid="run-state" />
      </h1>
      <div className="grid">
        <section className="card">
          <dl className="kv">
            <dt>Command</dt>
            <dd className="mono">{r.command.summary}</dd>
            <dt>Hosts</dt>
            <dd className="mono">
              {r.selector} ({r.total})
            </dd>
            <dt>Signed by</dt>
            <dd className="mono">{r.invoker}</dd>
            <dt>Submitted by</dt>
            <dd>
              {r.createdBy} <Time at={r.createdAt} />
            </dd>
            <dt>Timeout</dt>
            <dd>{formatDuration(r.command.timeoutMs)}</dd>
            {r.reason && (
              <>
                <dt>Reason</dt>
                <dd>{r.reason}</dd>
              </>
            )}
            {r.canceledBy && (
              <>
                <dt>Canceled by</dt>
                <dd>{r.canceledBy}</dd>
              </>
            )}
          </dl>
          {canCancel && !r.finishedAt && (
            <button
              type="button"
              className="btn btn-danger"
              style={{ marginTop: 8 }}
              disabled={cancel.isPending}
              onClick={() => void askCancel()}
              data-testid="run-cancel"
            >
              Cancel run
            </button>
          )}
          {cancel.error && (
            <p className="form-error" role="alert">
              {(cancel.error as Error).message}
            </p>
          )}
        </section>
      </div>
      <section className="section">
        <h2>Hosts</h2>
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Host</th>
                <th>State</th>
                <th className="num">Exit</th>
                <th>Duration</th>
                <th className="num">Output</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              {targets.map((t) => (
                <tr key={t.nodeId} data-testid="run-target" data-hostname={t.hostname} data-state={t.state} aria-selected={shown === t.nodeId}>
                  <td>
                    <button type="button" className="btn btn-ghost btn-small" onClick={() => setHost(t.nodeId)}>
                      {t.hostname}
                    </button>{' '}
                    <Link to={nodePath(t.nodeId)}>node</Link>
                  </td>
                  <td>
                    <Badge value={t.state} />
                  </td>
                  <td className="num">{t.exitCode ?? t.signal ?? '—'}</td>
                  <td>{ACTIVE.has(t.state) && t.startedAt ? <Time at={t.startedAt} /> : formatDuration(t.durationMs)}</td>
                  <td className="num">
                    {formatBytes(t.outputBytes)}
                    {t.truncated ? ' (truncated)' : ''}
                  </td>
                  <td className="wrap">{t.reason ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      {shown && (
        <section className="section">
          <h2>Output of {targets.find((t) => t.nodeId === shown)?.hostname}</h2>
          <pre className="output" data-testid="run-output" aria-live="polite">
            {chunks.length === 0 ? (
              <span className="muted">no output yet</span>
            ) : (
              chunks.map((c) => (
                <span key={`${c.stream}${c.chunk}`} className={c.stream}>
                  {c.data}
                </span>
              ))
            )}
          </pre>
        </section>
      )}
    </>
  );
}

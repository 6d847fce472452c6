import { useMemo, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { GpuSample, NodeMetrics, NodeView } from '@gpufleet/protocol';
import { useApi, useCan } from '../lib/auth.js';
import { useLive } from '../lib/live.js';
import { useEventStream } from '../lib/sse.js';
import { CHART_METRICS, appendSample, seriesFromMetrics, type NodeSeries } from '../lib/series.js';
import { labelsToText, parseLabelsText } from '../lib/labels-text.js';
import type { EventList } from '../lib/types.js';
import { Badge, Empty, ErrorBox, Loading, QueryView, Time } from '../components/states.js';
import { GpuChart } from '../components/chart.js';
import { ContainersPanel } from '../components/containers-panel.js';
import { NodeAllocations } from '../components/node-allocations.js';
import { useConfirm } from '../components/dialog.js';
import { useApproveNode } from '../components/pending-nodes.js';
import { Link, useRouter } from '../lib/router.js';
import { nodeVarsPagePath } from '../lib/job-center.js';
import { GpuTable } from '../components/node-gpu-table.js';
import { Facts, StaleNote } from '../components/node-facts.js';
import { conflictCandidates, NodeConflict } from '../components/node-conflict.js';
import { putNode } from '../lib/node-cache.js';
// The node's health timeline leaves run progress out: runs have their own page and would bury the health events.
import { RUN_EVENT_KINDS } from '../lib/constants.js';
import './node-actions.css';

const RANGES = [
  { id: '15m', label: '15 min', ms: 15 * 60_000 },
  { id: '1h', label: '1 h', ms: 60 * 60_000 },
] as const;

function LabelsEditor({ n }: { n: NodeView }) {
  const api = useApi();
  const qc = useQueryClient();
  const canEdit = useCan('operator');
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(labelsToText(n.userLabels));
  const parsed = parseLabelsText(text);
  const save = useMutation({
    mutationFn: () => {
      if (!parsed.ok) throw new Error(parsed.error);
      const remove = Object.keys(n.userLabels).filter((k) => !(k in parsed.labels));
      return api.patch<NodeView>(`/api/v1/nodes/${encodeURIComponent(n.id)}/labels`, { set: parsed.labels, remove });
    },
    onSuccess: (v) => {
      putNode(qc, v);
      setEditing(false);
    },
  });
  return (
    <div>
      <div className="labels" data-testid="node-labels">
        {Object.entries(n.labels).map(([k, v]) => (
          <span key={k} className="label-chip" title={k in n.userLabels ? 'set by people' : 'builtin or from the join token'}>
            {k}={v}
          </span>
        ))}
      </div>
      {canEdit && !editing && (
        <button type="button" className="btn btn-small" style={{ marginTop: 6 }} onClick={() => setEditing(true)} data-testid="labels-edit">
          Edit labels
        </button>
      )}
      {editing && (
        <form className="toolbar" style={{ marginTop: 6 }} onSubmit={(e) => (e.preventDefault(), save.mutate())}>
          <div className="field grow">
            <label htmlFor="labels-text">
              User labels <small>k=v,k2=v2 (removing one deletes it)</small>
            </label>
            <input id="labels-text" value={text} onChange={(e) => setText(e.target.value)} aria-invalid={!parsed.ok} data-testid="labels-input" />
            {!parsed.ok && <span className="form-error">{parsed.error}</span>}
            {save.error && <span className="form-error">{(save.error as Error).message}</span>}
          </div>
          <button type="submit" className="btn btn-primary" disabled={!parsed.ok || save.isPending}>
            Save
          </button>
          <button type="button" className="btn" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      )}
    </div>
  );
}

/** What each node action does, told in the confirmation before it happens. */
const NODE_ACTIONS = {
  cordon: { label: 'Cordon', body: 'No new work is placed on its GPUs. Work already running keeps running.', danger: false },
  uncordon: { label: 'Uncordon', body: 'New work may be placed on its GPUs again.', danger: false },
  drain: { label: 'Drain', body: 'No new work is placed, and running work is given time to end; then the node is DRAINED.', danger: true },
} as const;

function NodeActions({ n }: { n: NodeView }) {
  const api = useApi();
  const qc = useQueryClient();
  const confirm = useConfirm();
  const isAdmin = useCan('admin');
  const { navigate } = useRouter();
  const { approve, mutation: approval } = useApproveNode();
  const nodePath = `/api/v1/nodes/${encodeURIComponent(n.id)}`;
  const act = useMutation({
    mutationFn: ({ path, body }: { path: string; body?: unknown }) => api.post<NodeView>(`${nodePath}/${path}`, body ?? {}),
    onSuccess: (v) => {
      putNode(qc, 'node' in (v as object) ? (v as unknown as { node: NodeView }).node : v);
      // The overview's pending notice and the node table count statuses.
      void qc.invalidateQueries({ queryKey: ['summary'] });
      void qc.invalidateQueries({ queryKey: ['nodes'] });
    },
  });
  const remove = useMutation({
    mutationFn: () => api.delete(nodePath),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['summary'] });
      void qc.invalidateQueries({ queryKey: ['nodes'] });
      navigate('/nodes');
    },
  });
  const run = async (path: keyof typeof NODE_ACTIONS) => {
    const a = NODE_ACTIONS[path];
    const reason = await confirm({ title: `${a.label} ${n.hostname}?`, body: a.body, confirmLabel: a.label, danger: a.danger, reason: 'optional' });
    if (reason === null) return;
    act.mutate({ path, body: reason ? { reason } : {} });
  };
  const clearHealth = async () => {
    const reason = await confirm({
      title: `Clear the health of ${n.hostname}?`,
      body: "Its verdicts and its GPUs' are cleared, and GPUs the health policy took out of service return to READY. Do it once the fault is fixed.",
      confirmLabel: 'Clear health',
      reason: 'required',
      reasonLabel: 'What was fixed',
    });
    if (reason) act.mutate({ path: 'health/clear', body: { reason } });
  };
  const removeNode = async () => {
    const ok = await confirm({
      title: `Remove ${n.hostname} from the fleet?`,
      body: 'Its key is revoked and its connection closed. To come back, the host must join again with a new join token. Its events stay in the audit log.',
      confirmLabel: 'Remove node',
      danger: true,
      typeToConfirm: n.hostname,
    });
    if (ok !== null) remove.mutate();
  };
  const pending = n.status === 'PENDING';
  const cordoned = n.status === 'CORDONED' || n.status === 'DRAINING' || n.status === 'DRAINED';
  const error = act.error ?? remove.error ?? approval.error;
  if (n.status === 'DECOMMISSIONED') return <p className="muted">This node was removed from the fleet.</p>;
  return (
    <div>
      {pending && (
        <p className="pending-note" data-testid="node-pending-note">
          This node waits for approval: it enrolled with a join token that needs an admin to approve it.
        </p>
      )}
      <div className="actions">
        {pending && isAdmin && (
          <button type="button" className="btn btn-primary" disabled={approval.isPending} onClick={() => void approve(n)} data-testid="node-approve">
            Approve
          </button>
        )}
        {!pending && !cordoned && (
          <button type="button" className="btn" onClick={() => void run('cordon')} data-testid="node-cordon">
            Cordon
          </button>
        )}
        {!pending && cordoned && (
          <button type="button" className="btn" onClick={() => void run('uncordon')} data-testid="node-uncordon">
            Uncordon
          </button>
        )}
        {!pending && n.status !== 'DRAINING' && n.status !== 'DRAINED' && (
          <button type="button" className="btn" onClick={() => void run('drain')} data-testid="node-drain">
            Drain
          </button>
        )}
        {n.health.verdict !== 'healthy' && n.health.verdict !== 'unknown' && (
          <button type="button" className="btn" onClick={() => void clearHealth()} data-testid="node-health-clear">
            Clear health
          </button>
        )}
        {isAdmin && (
          <button type="button" className="btn btn-danger" disabled={remove.isPending} onClick={() => void removeNode()} data-testid="node-remove">
            Remove node
          </button>
        )}
      </div>
      {error && (
        <p className="form-error" role="alert">
          {(error as Error).message}
        </p>
      )}
    </div>
  );
}

function Charts({ n, series, range, setRange }: { n: NodeView; series: NodeSeries | undefined; range: string; setRange: (r: string) => void }) {
  const labels = (series?.gpus ?? []).map((i) => `GPU ${i}`);
  return (
    <section className="section">
      <div className="tabs" role="group" aria-label="Time range">
        <h2 style={{ marginRight: 8 }}>Live charts</h2>
        {RANGES.map((r) => (
          <button
            key={r.id}
            type="button"
            className={`btn btn-small${range === r.id ? ' btn-primary' : ''}`}
            aria-pressed={range === r.id}
            onClick={() => setRange(r.id)}
            data-testid={`range-${r.id}`}
          >
            {r.label}
          </button>
        ))}
      </div>
      {!series ? (
        <Loading what="Loading metrics" />
      ) : n.gpus.length === 0 ? null : (
        <div className="charts">
          {CHART_METRICS.map((m) => (
            <GpuChart
              key={`${m.name}`}
              title={m.title}
              unit={m.unit}
              times={series.times}
              columns={series.values[m.name]}
              labels={labels}
              testid={m.name === 'gpu_util_pct' ? 'node-chart-util' : `node-chart-${m.name}`}
              yMax={m.unit === '%' ? 100 : undefined}
            />
          ))}
        </div>
      )}
    </section>
  );
}

function Timeline({ nodeId }: { nodeId: string }) {
  const api = useApi();
  const q = useQuery({
    queryKey: ['events', 'node', nodeId],
    queryFn: () => api.get<EventList>(`/api/v1/events?node=${encodeURIComponent(nodeId)}&exclude=${RUN_EVENT_KINDS.join(',')}&limit=50`),
    refetchInterval: 15_000,
  });
  return (
    <QueryView q={q}>
      {(d) =>
        d.items.length === 0 ? (
          <Empty>No events for this node.</Empty>
        ) : (
          <ul className="timeline" data-testid="node-timeline">
            {d.items.map((e) => (
              <li key={e.id}>
                <Time at={e.at} /> <Badge value={e.kind} />
                {e.code !== null && <span className="mono">#{e.code}</span>}
                {e.gpu && <span className="mono muted">{e.gpu}</span>}
                <span className="wrap">{e.message}</span>
                {e.details != null && (
                  <details>
                    <summary>evidence</summary>
                    <pre className="output" style={{ maxHeight: 200 }}>
                      {JSON.stringify(e.details, null, 2)}
                    </pre>
                  </details>
                )}
              </li>
            ))}
          </ul>
        )
      }
    </QueryView>
  );
}

/** One node: facts, labels, GPUs with actions, its workload allocations, live charts and its health timeline. */
export function NodeDetailPage({ nodeRef }: { nodeRef: string }) {
  const api = useApi();
  const qc = useQueryClient();
  const { registry } = useLive();
  const canAct = useCan('operator');
  const [range, setRange] = useState<string>('15m');
  const windowMs = RANGES.find((r) => r.id === range)!.ms;
  const nodeQ = useQuery({
    queryKey: ['node', nodeRef],
    queryFn: () => api.get<NodeView>(`/api/v1/nodes/${encodeURIComponent(nodeRef)}`),
    refetchInterval: 30_000,
  });
  const node = nodeQ.data;
  const nodeId = node?.id;
  // Mutations and the fleet stream write under the id; keep the two keys in step.
  const byId = useQuery({
    queryKey: ['node', nodeId ?? ''],
    queryFn: () => api.get<NodeView>(`/api/v1/nodes/${encodeURIComponent(nodeId!)}`),
    enabled: nodeId !== undefined && nodeId !== nodeRef,
    staleTime: 60_000,
  });
  const n = (byId.dataUpdatedAt > nodeQ.dataUpdatedAt ? byId.data : node) ?? node;

  const metricsQ = useQuery({
    queryKey: ['metrics', nodeId, range],
    queryFn: async () =>
      seriesFromMetrics(
        await api.get<NodeMetrics>(`/api/v1/nodes/${encodeURIComponent(nodeId!)}/metrics?since=${range}&names=${CHART_METRICS.map((m) => m.name).join(',')}`),
        n!.gpus,
      ),
    enabled: nodeId !== undefined,
    staleTime: Infinity,
  });

  const streamUrl = useMemo(() => (nodeId ? api.streamUrl(`/api/v1/nodes/${encodeURIComponent(nodeId)}/stream`) : null), [api, nodeId]);
  useEventStream(
    streamUrl,
    {
      node: (data) => {
        const v = data as NodeView;
        if (!v || typeof v.id !== 'string') return;
        qc.setQueryData(['node', nodeRef], v);
        qc.setQueryData(['node', v.id], v);
      },
      metrics: (data) => {
        const body = data as { ts?: number; gpus?: GpuSample[] } | null;
        if (!body || typeof body.ts !== 'number' || !Array.isArray(body.gpus) || !nodeId) return;
        const gpus = qc.getQueryData<NodeView>(['node', nodeRef])?.gpus ?? [];
        qc.setQueryData<NodeSeries>(['metrics', nodeId, range], (s) => (s ? appendSample(s, body.ts!, body.gpus!, gpus, windowMs) : s));
      },
    },
    registry,
  );

  if (nodeQ.isPending) return <Loading what="Loading node" />;
  const candidates = conflictCandidates(nodeQ.error);
  if (candidates) return <NodeConflict hostname={nodeRef} candidates={candidates} />;
  if (nodeQ.error || !n) return <ErrorBox error={nodeQ.error ?? 'not found'} retry={() => void nodeQ.refetch()} />;
  return (
    <>
      <h1 data-testid="node-title">{n.hostname}</h1>
      <StaleNote n={n} />
      <div className="grid">
        <section className="card">
          <h2>Facts</h2>
          <Facts n={n} />
        </section>
        <section className="card">
          <h2>Labels</h2>
          <LabelsEditor key={labelsToText(n.userLabels)} n={n} />
          <p>
            <Link to={nodeVarsPagePath(n.id)} data-testid="node-vars-link">
              Playbook variables
            </Link>{' '}
            <span className="muted">merged from global, groups and this node, with where each comes from</span>
          </p>
          {canAct && (
            <>
              <h2 style={{ marginTop: 12 }}>Actions</h2>
              <NodeActions n={n} />
            </>
          )}
          {n.health.findings.length > 0 && (
            <>
              <h2 style={{ marginTop: 12 }}>Active findings</h2>
              <ul className="timeline">
                {n.health.findings.map((f, i) => (
                  <li key={i}>
                    <Badge value={f.verdict} /> <strong>{f.rule}</strong> {f.gpu && <span className="mono muted">{f.gpu}</span>}{' '}
                    <span className="wrap">{f.cause}</span> <Time at={f.since} />
                  </li>
                ))}
              </ul>
            </>
          )}
        </section>
      </div>
      <section className="section">
        <h2>GPUs</h2>
        <GpuTable n={n} />
      </section>
      <NodeAllocations nodeId={n.id} />
      <Charts n={n} series={metricsQ.data} range={range} setRange={setRange} />
      {metricsQ.error && <ErrorBox error={metricsQ.error} retry={() => void metricsQ.refetch()} />}
      <ContainersPanel node={n} />
      <section className="card section">
        <h2>Health timeline</h2>
        <Timeline nodeId={n.id} />
      </section>
    </>
  );
}

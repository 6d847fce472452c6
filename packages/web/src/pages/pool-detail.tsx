import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError } from '../lib/api.js';
import { useApi, useCan } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import { formatDuration, formatPct } from '../lib/format.js';
import {
  autoscalingText,
  costText,
  desiredWhy,
  healthText,
  isInFlight,
  poolApiPath,
  sizeText,
  type PoolDetailView,
  type PoolMemberView,
  type PoolOperationView,
  type PoolView,
} from '../lib/pools.js';
import { Empty, ErrorBox, Loading, Time } from '../components/states.js';
import { useConfirm } from '../components/dialog.js';
import { OpStages } from '../components/op-stages.js';
import { PoolSizeChart } from '../components/pool-size-chart.js';
import { PoolMembersTable } from '../components/pool-members-table.js';
import { PoolEvents } from '../components/pool-events.js';
import { ScaleDialog } from '../components/scale-dialog.js';
import '../components/pools.css';

/** How often a pool is read again: faster while operations are under way. */
const REFRESH_ACTIVE_MS = 3_000;
const REFRESH_IDLE_MS = 10_000;

/** A node as people know it: its hostname when it is a member, else its id cut short. */
type NodeName = (id: string) => string;

function OperationItem({ op, nodeName }: { op: PoolOperationView; nodeName: NodeName }) {
  return (
    <li className="pool-op" data-testid="pool-op" data-id={op.id} data-kind={op.kind} data-stage={op.stage}>
      <div className="pool-op-head">
        <strong>{op.kind}</strong>
        {op.oldNodeId && (
          <span>
            of <span className="mono">{op.oldHostname ?? nodeName(op.oldNodeId)}</span>
          </span>
        )}
        {op.instanceId && (
          <span>
            {op.kind === 'replace' ? 'by ' : ''}
            <span className="mono">{op.instanceId}</span>
          </span>
        )}
        {op.zone && <span className="muted">in {op.zone}</span>}
        <span className="muted">
          started <Time at={op.startedAt} />
          {op.attempts > 1 ? `, attempt ${op.attempts}` : ''}
        </span>
      </div>
      <OpStages op={op} />
      <p className="muted" style={{ margin: 0 }}>
        {op.reason}
        {op.deadlineAt && isInFlight(op) && (
          <>
            {' '}
            (gives up <Time at={op.deadlineAt} />)
          </>
        )}
      </p>
      {op.error && (
        <p className="pool-op-error" data-testid="pool-op-error">
          {op.error}
        </p>
      )}
    </li>
  );
}

/** In-flight operations first (their stage as steps), then the failed ones, which need a person. */
function Operations({ ops, nodeName }: { ops: readonly PoolOperationView[]; nodeName: NodeName }) {
  const inFlight = ops.filter(isInFlight);
  const failed = ops.filter((o) => o.stage === 'failed');
  return (
    <>
      {inFlight.length === 0 ? (
        <Empty>Nothing in flight: the pool is at its desired size.</Empty>
      ) : (
        <ul className="timeline" data-testid="pool-ops-in-flight">
          {inFlight.map((o) => (
            <OperationItem key={o.id} op={o} nodeName={nodeName} />
          ))}
        </ul>
      )}
      {failed.length > 0 && (
        <>
          <h3>Failed</h3>
          <ul className="timeline" data-testid="pool-ops-failed">
            {failed.map((o) => (
              <OperationItem key={o.id} op={o} nodeName={nodeName} />
            ))}
          </ul>
        </>
      )}
    </>
  );
}

/** One pool: its size and why, settings, size over time, operations with their stages, members, decisions and cost; operators and admins scale it and replace members. */
export function PoolDetailPage({ name }: { name: string }) {
  const api = useApi();
  const qc = useQueryClient();
  const confirm = useConfirm();
  // The server lets operators scale and replace (pool-routes.ts); viewers read.
  const canAct = useCan('operator');
  const [scaling, setScaling] = useState(false);
  const q = useQuery({
    queryKey: ['pool', name],
    queryFn: () => api.get<PoolDetailView>(poolApiPath(name)),
    refetchInterval: (query) => ((query.state.data?.inFlight ?? 0) > 0 ? REFRESH_ACTIVE_MS : REFRESH_IDLE_MS),
  });
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: ['pool', name] });
    void qc.invalidateQueries({ queryKey: ['pools'] });
    void qc.invalidateQueries({ queryKey: ['pool-events', name] });
  };
  const replace = useMutation({
    mutationFn: (body: { node: string; reason: string }) => api.post<PoolOperationView>(`${poolApiPath(name)}/replace`, body),
    onSuccess: refresh,
  });
  const scale = async (to: number, reason: string) => {
    await api.post<PoolView>(`${poolApiPath(name)}/scale`, { to, reason });
    refresh();
  };
  const askReplace = async (m: PoolMemberView) => {
    if (!m.nodeId) return;
    const reason = await confirm({
      title: `Replace ${m.hostname ?? m.instanceId}?`,
      body: 'A new instance is provisioned first; once it is READY this node is drained (its allocations move) and then terminated. The node is cordoned now.',
      confirmLabel: 'Replace',
      danger: true,
      reason: 'required',
    });
    if (reason === null) return;
    replace.mutate({ node: m.nodeId, reason });
  };

  if (q.isPending) return <Loading what="Loading pool" />;
  if (q.error instanceof ApiError && q.error.status === 404)
    return (
      <Empty>
        No pool named <span className="mono">{name}</span>. <Link to="/pools">All pools</Link>
      </Empty>
    );
  // A failed refresh keeps the pool shown (with the error above it); only no data at all replaces it.
  if (!q.data) return <ErrorBox error={q.error ?? 'not found'} retry={() => void q.refetch()} />;
  const p = q.data;
  const hostnames = new Map(p.members.flatMap((m) => (m.nodeId && m.hostname ? [[m.nodeId, m.hostname] as const] : [])));
  const nodeName: NodeName = (id) => hostnames.get(id) ?? `${id.slice(0, 24)}…`;
  const replacing = new Set(p.operations.filter((o) => o.kind === 'replace' && isInFlight(o) && o.oldNodeId).map((o) => o.oldNodeId!));

  return (
    <>
      <h1 data-testid="pool-title">
        Pool <span className="mono">{p.name}</span>
      </h1>
      {q.error && <ErrorBox error={q.error} retry={() => void q.refetch()} />}
      <div className="grid section">
        <section className="card" aria-labelledby="pool-summary">
          <h2 id="pool-summary">Summary</h2>
          <dl className="kv">
            <dt>Nodes</dt>
            <dd data-testid="pool-size" data-ready={p.ready} data-desired={p.desired} data-current={p.current}>
              {sizeText(p)} ready/desired; {p.current} instance{p.current === 1 ? '' : 's'}
            </dd>
            <dt>Desired</dt>
            <dd data-testid="pool-desired-why" data-source={p.desiredSource}>
              {p.desired}: {desiredWhy(p)}
            </dd>
            <dt>Provider</dt>
            <dd>
              {p.provider} <span className="muted">({p.providerType})</span>, <span className="mono">{p.instanceType}</span>
            </dd>
            <dt>Zones</dt>
            <dd>{p.zones.length > 0 ? p.zones.join(', ') : "the provider's choice"}</dd>
            <dt>GPUs</dt>
            <dd>
              {p.gpus}, {formatPct(p.allocatedPct)} allocated
            </dd>
            <dt>Cost</dt>
            <dd data-testid="pool-cost">{costText(p.costPerHour)}</dd>
            <dt>Cooldown</dt>
            <dd>
              {p.cooldownMs === 0 ? 'none' : formatDuration(p.cooldownMs)}
              {p.lastScaleAt && (
                <>
                  ; last scaled <Time at={p.lastScaleAt} />
                </>
              )}
            </dd>
            <dt>Autoscaling</dt>
            <dd>{autoscalingText(p.autoscaling)}</dd>
            <dt>Health</dt>
            <dd>{healthText(p.health)}</dd>
            {Object.keys(p.labels).length > 0 && (
              <>
                <dt>Labels</dt>
                <dd className="labels">
                  {Object.entries(p.labels).map(([k, v]) => (
                    <span key={k} className="label-chip">
                      {k}={v}
                    </span>
                  ))}
                </dd>
              </>
            )}
          </dl>
          {canAct && (
            <div className="actions" style={{ marginTop: 12 }}>
              <button type="button" className="btn btn-primary" onClick={() => setScaling(true)} data-testid="pool-scale">
                Scale to…
              </button>
            </div>
          )}
        </section>
        <section className="pool-chart-cell" aria-label="Size over time">
          <PoolSizeChart history={p.history} />
        </section>
      </div>

      <section className="card section" aria-labelledby="pool-ops">
        <h2 id="pool-ops">Operations</h2>
        <Operations ops={p.operations} nodeName={nodeName} />
      </section>

      <section className="section" aria-labelledby="pool-members">
        <h2 id="pool-members">Members</h2>
        {replace.error && (
          <p className="form-error" role="alert" data-testid="pool-replace-error">
            {(replace.error as Error).message}
          </p>
        )}
        <PoolMembersTable members={p.members} replacing={replacing} onReplace={canAct ? (m) => void askReplace(m) : undefined} busy={replace.isPending} />
      </section>

      <section className="card section" aria-labelledby="pool-decisions">
        <h2 id="pool-decisions">Decisions</h2>
        <PoolEvents pool={p.name} />
      </section>

      {scaling && <ScaleDialog pool={p} onScale={scale} onClose={() => setScaling(false)} />}
    </>
  );
}

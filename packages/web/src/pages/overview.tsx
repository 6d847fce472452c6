import { useQuery } from '@tanstack/react-query';
import { useApi } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import { NODE_STATUSES, RUN_EVENT_KINDS, VERDICTS } from '../lib/constants.js';
import { formatPct, formatWatts } from '../lib/format.js';
import type { AlertList, EventList, FleetSummary } from '../lib/types.js';
import { Badge, Empty, QueryView, Time } from '../components/states.js';
import { Heatmap } from '../components/heatmap.js';
import { useFleetHeatmap } from '../lib/heatmap-query.js';
import { summarizeHeatmap } from '../lib/heatmap.js';
import { PendingNotice } from '../components/pending-nodes.js';
import { nodePath } from '../lib/node-path.js';

/** Nodes that take no new work: cordoned, draining, drained or unhealthy (OFFLINE is counted on its own). */
function notTakingWork(s: FleetSummary): number {
  return NOT_TAKING_WORK.reduce((n, st) => n + (s.nodes.byStatus[st] ?? 0), 0);
}
const NOT_TAKING_WORK = ['CORDONED', 'DRAINING', 'DRAINED', 'UNHEALTHY'] as const;

/** GPUs by verdict, from the heatmap model: its own component, so a live update re-renders only it. */
function GpuHealthCounts() {
  const heat = useFleetHeatmap();
  if (!heat.data) return null;
  const byHealth = summarizeHeatmap(heat.data).byHealth;
  return (
    <>
      {VERDICTS.map((v) => (
        <span key={v} className="count" data-testid={`overview-health-${v}`} data-count={byHealth[v]}>
          <Badge value={v} /> {byHealth[v]}
        </span>
      ))}
    </>
  );
}

/** The heatmap section's content, subscribed on its own for the same reason. */
function HeatmapSection() {
  const heat = useFleetHeatmap();
  return <QueryView q={heat}>{(model) => <Heatmap model={model} />}</QueryView>;
}

export function OverviewPage() {
  const api = useApi();
  const summary = useQuery({ queryKey: ['summary'], queryFn: () => api.get<FleetSummary>('/api/v1/fleet/summary'), refetchInterval: 15_000 });
  const firing = useQuery({
    queryKey: ['alerts', 'firing'],
    queryFn: () => api.get<AlertList>('/api/v1/alerts?state=firing&limit=50'),
    refetchInterval: 15_000,
  });
  const events = useQuery({
    queryKey: ['events', 'latest'],
    queryFn: () => api.get<EventList>(`/api/v1/events?limit=15&exclude=${[...RUN_EVENT_KINDS, 'agent-started'].join(',')}`),
    refetchInterval: 15_000,
  });

  return (
    <>
      <h1>Overview</h1>
      <PendingNotice count={summary.data?.nodes.byStatus.PENDING ?? 0} />
      <div className="grid">
        <section className="card" aria-labelledby="h-nodes">
          <h2 id="h-nodes">Nodes</h2>
          <QueryView q={summary}>
            {(s) => (
              <>
                <div className="stat-big" data-testid="overview-nodes-total">
                  {s.nodes.total}
                </div>
                <div className="muted" data-testid="overview-not-taking-work" data-count={notTakingWork(s)}>
                  Not taking work: {notTakingWork(s)} (cordoned, draining, drained or unhealthy)
                </div>
                <div className="counts">
                  {NODE_STATUSES.filter((st) => st !== 'DECOMMISSIONED').map((st) => (
                    <Link key={st} to={`/nodes?status=${st}`} className="count" data-testid={`overview-status-${st}`} data-count={s.nodes.byStatus[st] ?? 0}>
                      <Badge value={st} /> {s.nodes.byStatus[st] ?? 0}
                    </Link>
                  ))}
                </div>
              </>
            )}
          </QueryView>
        </section>
        <section className="card" aria-labelledby="h-gpus">
          <h2 id="h-gpus">GPUs</h2>
          <QueryView q={summary}>
            {(s) => (
              <>
                <div className="stat-big" data-testid="overview-gpus-total">
                  {s.gpus.total}
                </div>
                <div className="counts">
                  <GpuHealthCounts />
                </div>
                <div className="muted">
                  {Object.entries(s.gpus.byModel)
                    .map(([m, n]) => `${n}× ${m}`)
                    .join(' · ')}
                </div>
              </>
            )}
          </QueryView>
        </section>
        <section className="card" aria-labelledby="h-power">
          <h2 id="h-power">Power and load</h2>
          <QueryView q={summary}>
            {(s) => (
              <>
                <div className="stat-big" data-testid="overview-power">
                  {formatWatts(s.powerDrawW)}
                </div>
                <div className="muted">fleet GPU power draw · average GPU utilization {formatPct(s.avgGpuUtilPct)}</div>
              </>
            )}
          </QueryView>
        </section>
      </div>

      <section className="card section" aria-labelledby="h-heat">
        <h2 id="h-heat">GPU utilization</h2>
        <HeatmapSection />
      </section>

      <div className="grid">
        <section className="card" aria-labelledby="h-alerts">
          <h2 id="h-alerts">
            Firing alerts <Link to="/alerts">all</Link>
          </h2>
          <QueryView q={firing}>
            {(d) =>
              d.items.length === 0 ? (
                <Empty>No alerts firing.</Empty>
              ) : (
                <ul className="timeline">
                  {d.items.map((a) => (
                    <li key={a.id} data-testid="alerts-firing-row" data-rule={a.rule} data-node={a.hostname}>
                      <Badge value={a.severity} /> <strong>{a.rule}</strong>
                      <Link to={nodePath(a.nodeId)}>{a.hostname}</Link>
                      {a.gpuIndex !== null && <span>GPU {a.gpuIndex}</span>}
                      <span className="muted">{a.summary}</span>
                      <Time at={a.firedAt ?? a.activeAt} />
                    </li>
                  ))}
                </ul>
              )
            }
          </QueryView>
        </section>
        <section className="card" aria-labelledby="h-events">
          <h2 id="h-events">
            Latest events <Link to="/events">all</Link>
          </h2>
          <QueryView q={events}>
            {(d) =>
              d.items.length === 0 ? (
                <Empty>No events yet.</Empty>
              ) : (
                <ul className="timeline">
                  {d.items.map((e) => (
                    <li key={e.id} data-testid="overview-event">
                      <Badge value={e.kind} />
                      {e.hostname ? <Link to={nodePath(e.nodeId)}>{e.hostname}</Link> : <span className="mono">{e.nodeId.slice(0, 16)}</span>}
                      <span className="wrap">{e.message}</span>
                      <Time at={e.at} />
                    </li>
                  ))}
                </ul>
              )
            }
          </QueryView>
        </section>
      </div>
    </>
  );
}

import { useQuery } from '@tanstack/react-query';
import { ApiError } from '../lib/api.js';
import { useApi } from '../lib/auth.js';
import { Link, useRouter } from '../lib/router.js';
import {
  lastChange,
  parseHostFilter,
  planText,
  releaseText,
  rolloutApiPath,
  rolloutPagePath,
  rolloutRefreshMs,
  shortSha,
  type HostFilter,
  type RolloutDetail,
} from '../lib/rollouts.js';
import { Badge, Empty, ErrorBox, Loading, Time } from '../components/states.js';
import { CliHint } from '../components/cli-hint.js';
import { RolloutProgressBar } from '../components/rollout-progress.js';
import { RolloutSteps } from '../components/rollout-steps.js';
import { RolloutHostsTable } from '../components/rollout-hosts-table.js';
import { RolloutActions } from '../components/rollout-actions.js';
import './rollouts.css';

function PlanCard({ r }: { r: RolloutDetail }) {
  const plan = planText(r.plan);
  return (
    <section className="card section" aria-labelledby="rollout-plan-title">
      <h2 id="rollout-plan-title">Plan</h2>
      <dl className="kv" data-testid="rollout-plan">
        <dt>Release</dt>
        <dd className="mono">{releaseText(r.release)}</dd>
        <dt>Target</dt>
        <dd className="mono ro-wrap" data-testid="rollout-target">
          {r.target.path}{' '}
          <span className="muted" title={`sha256 ${r.target.sha256}`}>
            sha256 {shortSha(r.target.sha256)}…
          </span>
        </dd>
        <dt>Hosts</dt>
        <dd className="mono ro-wrap">{r.selector || 'every host the signer may update'}</dd>
        <dt>Canary</dt>
        <dd data-testid="rollout-plan-canary">{plan.canary}</dd>
        <dt>Waves</dt>
        <dd data-testid="rollout-plan-waves">{plan.waves}</dd>
        <dt>Healthy for</dt>
        <dd data-testid="rollout-plan-healthy-for">{plan.healthyFor}</dd>
        <dt>Max failures</dt>
        <dd data-testid="rollout-plan-max-failures">{plan.maxFailures}</dd>
        <dt>By</dt>
        <dd>
          {r.createdBy}, <Time at={r.createdAt} />
        </dd>
        <dt>Updated</dt>
        <dd>
          <Time at={r.updatedAt} />
        </dd>
      </dl>
    </section>
  );
}

/** One rollout: its plan, its steps as cards, every host's state, and Pause / Resume / Abort for operators; read again every few seconds. */
export function RolloutDetailPage({ rolloutId }: { rolloutId: string }) {
  const api = useApi();
  const { search, navigate } = useRouter();
  const filter = parseHostFilter(search.get('state'));
  const setFilter = (f: HostFilter) => navigate(`${rolloutPagePath(rolloutId)}${f === 'all' ? '' : `?state=${f}`}`, { replace: true });
  const q = useQuery({
    queryKey: ['rollout', rolloutId],
    queryFn: () => api.get<RolloutDetail>(rolloutApiPath(rolloutId)),
    refetchInterval: (query) => rolloutRefreshMs(query.state.data ? [lastChange(query.state.data)] : [], Date.now()),
  });

  if (q.isPending) return <Loading what="Loading rollout" />;
  // 400: not even a rollout id (a mistyped link); the server's words say what one looks like.
  if (q.error instanceof ApiError && (q.error.status === 404 || q.error.status === 400))
    return (
      <Empty>
        No rollout <span className="mono">{rolloutId}</span>
        {q.error.status === 400 ? ` (${q.error.message})` : ''}. <Link to="/rollouts">Rollouts</Link>
      </Empty>
    );
  if (!q.data) return <ErrorBox error={q.error ?? 'not found'} retry={() => void q.refetch()} />;
  const r = q.data;
  return (
    <>
      <div className="toolbar">
        <h1 data-testid="rollout-title">
          Rollout of <span className="mono">{releaseText(r.release)}</span> <Badge value={r.state} testid="rollout-state" />
        </h1>
        <RolloutActions rollout={r} />
      </div>
      {/* A failed poll keeps the last rollout in view, with the error above it. */}
      {q.error && <ErrorBox error={q.error} retry={() => void q.refetch()} />}
      {r.message && (
        <p className={`card ro-message ro-message-${r.state}`} role="status" data-testid="rollout-message">
          {r.message}
        </p>
      )}
      <section className="section" aria-label="Hosts so far">
        <RolloutProgressBar counts={r.counts} />
      </section>
      <PlanCard r={r} />
      <section className="section" aria-labelledby="rollout-steps-title">
        <h2 id="rollout-steps-title">Steps</h2>
        <RolloutSteps rollout={r} />
      </section>
      <section className="section" aria-labelledby="rollout-hosts-title">
        <h2 id="rollout-hosts-title">Hosts</h2>
        <RolloutHostsTable hosts={r.hosts} steps={r.steps} filter={filter} onFilter={setFilter} />
      </section>
      <CliHint command={`gpufleet rollouts get ${r.id}`} />
    </>
  );
}

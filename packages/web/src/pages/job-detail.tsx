import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError } from '../lib/api.js';
import { useApi, useCan } from '../lib/auth.js';
import { Link, useRouter } from '../lib/router.js';
import { jobApiPath, jobPagePath, looksLikeJobSpec, pickAllocation, runningText, type JobDetailView, type PlanView } from '../lib/workloads.js';
import { Empty, ErrorBox, Loading, Time } from '../components/states.js';
import { useConfirm } from '../components/dialog.js';
import { StatusBadge } from '../components/workload-badges.js';
import { AllocationsTable } from '../components/allocations-table.js';
import { AllocLogTail } from '../components/alloc-log-tail.js';
import { PlanDetails } from '../components/plan-view.js';
import { JobSpecSummary } from '../components/job-spec-summary.js';
import { DeploymentCard } from '../components/deployment-card.js';
import './run-new.css';

/** How often a job is read again: faster while its allocations are on the move. */
const REFRESH_ACTIVE_MS = 3_000;
const REFRESH_IDLE_MS = 15_000;

/** What the submit page left for this page: whether a new version was made, and the plan. */
interface Submitted {
  created: boolean;
  plan: PlanView;
}

function StopActions({ job }: { job: JobDetailView }) {
  const api = useApi();
  const qc = useQueryClient();
  const confirm = useConfirm();
  const { navigate } = useRouter();
  const stop = useMutation({
    mutationFn: (body: { purge?: boolean; reason?: string }) => api.post<JobDetailView | undefined>(`${jobApiPath(job.name)}/stop`, body),
    onSuccess: (v, body) => {
      void qc.invalidateQueries({ queryKey: ['jobs'] });
      if (body.purge) {
        qc.removeQueries({ queryKey: ['job', job.name] });
        navigate('/jobs');
      } else if (v) qc.setQueryData(['job', job.name], v);
    },
  });
  const askStop = async () => {
    const reason = await confirm({
      title: `Stop job ${job.name}?`,
      body: `Its ${job.running} running allocation${job.running === 1 ? ' is' : 's are'} stopped on their hosts (SIGTERM, then SIGKILL after each group's grace) and their GPUs freed. The job and its versions are kept: submit it again to start it.`,
      confirmLabel: 'Stop job',
      danger: true,
      reason: 'optional',
    });
    if (reason === null) return;
    stop.mutate(reason ? { reason } : {});
  };
  const askPurge = async () => {
    const reason = await confirm({
      title: `Stop and forget job ${job.name}?`,
      body: 'Its allocations are stopped and the job, its versions and their history are removed. This cannot be undone.',
      confirmLabel: 'Stop and purge',
      danger: true,
      reason: 'optional',
      typeToConfirm: job.name,
    });
    if (reason === null) return;
    stop.mutate(reason ? { purge: true, reason } : { purge: true });
  };
  return (
    <div>
      <div className="actions">
        {job.status !== 'stopped' && (
          <button type="button" className="btn btn-danger" disabled={stop.isPending} onClick={() => void askStop()} data-testid="job-stop">
            Stop
          </button>
        )}
        <button type="button" className="btn btn-danger" disabled={stop.isPending} onClick={() => void askPurge()} data-testid="job-purge">
          Stop and purge
        </button>
      </div>
      {stop.error && (
        <p className="form-error" role="alert" data-testid="job-stop-error">
          {(stop.error as Error).message}
        </p>
      )}
    </div>
  );
}

/** One job: status, versions, the rolling update, its allocations with their GPUs and health, an allocation's live log, stop. */
export function JobDetailPage({ name }: { name: string }) {
  const api = useApi();
  const qc = useQueryClient();
  const canAct = useCan('operator');
  const { search, navigate } = useRouter();
  const q = useQuery({
    queryKey: ['job', name],
    queryFn: () => api.get<JobDetailView>(jobApiPath(name)),
    refetchInterval: (query) => (query.state.data?.status === 'stopped' || query.state.data?.status === 'complete' ? REFRESH_IDLE_MS : REFRESH_ACTIVE_MS),
  });
  // What the submit page left is shown once: taken from the cache as the page opens.
  const [submitted, setSubmitted] = useState(() => {
    const left = qc.getQueryData<Submitted>(['job-submitted', name]) ?? null;
    qc.removeQueries({ queryKey: ['job-submitted', name] });
    return left;
  });
  const allocRef = search.get('alloc');
  const openLog = (ref: string | null) => navigate(jobPagePath(name, ref ?? undefined), { replace: true });

  if (q.isPending) return <Loading what="Loading job" />;
  if (q.error instanceof ApiError && q.error.status === 404)
    return (
      <Empty>
        No job named <span className="mono">{name}</span>. <Link to="/jobs">All jobs</Link>
      </Empty>
    );
  if (q.error || !q.data) return <ErrorBox error={q.error ?? 'not found'} retry={() => void q.refetch()} />;
  const j = q.data;
  const shown = allocRef ? pickAllocation(j.allocations, allocRef) : null;

  return (
    <>
      <h1 data-testid="job-title">
        Job <span className="mono">{j.name}</span> <StatusBadge value={j.status} testid="job-status" />
      </h1>
      {submitted && (
        <section className="card section" data-testid="job-submitted">
          <p>
            {submitted.created ? `Version ${j.version} submitted.` : 'This spec is already the current version: nothing changed.'}{' '}
            <button type="button" className="btn btn-small btn-ghost" onClick={() => setSubmitted(null)} data-testid="job-submitted-dismiss">
              Dismiss
            </button>
          </p>
          <PlanDetails plan={submitted.plan} testid="job-submitted-plan" />
        </section>
      )}
      <div className="grid">
        <section className="card">
          <dl className="kv">
            <dt>Running</dt>
            <dd data-testid="job-running" data-running={j.running} data-desired={j.desired}>
              {runningText(j)} allocations
            </dd>
            <dt>GPUs</dt>
            <dd>{j.gpus}</dd>
            <dt>Version</dt>
            <dd data-testid="job-version">v{j.version}</dd>
            <dt>Kind</dt>
            <dd>{j.kind}</dd>
            <dt>Submitted by</dt>
            <dd>
              {j.submittedBy} <Time at={j.updatedAt} />
            </dd>
            <dt>Created</dt>
            <dd>
              <Time at={j.createdAt} />
            </dd>
          </dl>
          {canAct && (
            <>
              <h2 style={{ marginTop: 12 }}>Actions</h2>
              <StopActions job={j} />
            </>
          )}
        </section>
        {j.deployment && <DeploymentCard deployment={j.deployment} />}
      </div>

      <section className="section">
        <h2>Allocations</h2>
        <AllocationsTable
          allocations={j.allocations}
          show="node"
          selected={shown?.id ?? null}
          onLogs={(a) => openLog(shown?.id === a.id ? null : a.id)}
          empty={j.status === 'stopped' ? 'The job is stopped: no allocations.' : 'No allocations yet: the job is being placed.'}
        />
      </section>
      {allocRef && !shown && (
        <p className="muted" data-testid="alloc-missing">
          This job has no allocation {allocRef}.
        </p>
      )}
      {shown && (
        <section className="section">
          <AllocLogTail key={shown.id} alloc={shown} onClose={() => openLog(null)} />
        </section>
      )}

      <section className="section">
        <h2>Versions</h2>
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th className="num">Version</th>
                <th>Status</th>
                <th>Spec hash</th>
                <th>Signed by</th>
                <th>Submitted</th>
              </tr>
            </thead>
            <tbody>
              {[...j.versions]
                .sort((a, b) => b.version - a.version)
                .map((v) => (
                  <tr key={v.version} data-testid="job-version-row" data-version={v.version} data-status={v.status}>
                    <td className="num">v{v.version}</td>
                    <td>
                      <StatusBadge value={v.status} />
                    </td>
                    <td className="mono" title={v.specHash}>
                      {v.specHash.slice(0, 12)}
                    </td>
                    <td className="mono" title={v.invoker}>
                      {v.submittedBy} · {v.invoker.slice(0, 20)}…
                    </td>
                    <td>
                      <Time at={v.submittedAt} />
                    </td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      </section>

      <section className="card section">
        <h2>Spec of v{j.version}</h2>
        {looksLikeJobSpec(j.spec) ? <JobSpecSummary spec={j.spec} /> : null}
        <details>
          <summary>The signed spec (JSON)</summary>
          <pre className="run-json" data-testid="job-spec-json">
            {JSON.stringify(j.spec, null, 2)}
          </pre>
        </details>
        {j.source !== null && (
          <details>
            <summary>The job file as submitted</summary>
            <pre className="run-json" data-testid="job-source-text">
              {j.source}
            </pre>
          </details>
        )}
      </section>
    </>
  );
}

import { useQuery } from '@tanstack/react-query';
import { useApi, useCan } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import { jobPagePath, runningText, type JobSummaryView } from '../lib/workloads.js';
import { Empty, QueryView, Time } from '../components/states.js';
import { StatusBadge } from '../components/workload-badges.js';

/** How often the list is read again: allocations start and stop on their own. */
export const JOBS_REFRESH_MS = 5_000;

/** Every job: status, allocations running of wanted, GPUs held, version and age, refreshed every 5 s. */
export function JobsPage() {
  const api = useApi();
  const canRun = useCan('operator');
  const q = useQuery({
    queryKey: ['jobs'],
    queryFn: () => api.get<{ items: JobSummaryView[] }>('/api/v1/jobs'),
    refetchInterval: JOBS_REFRESH_MS,
  });
  return (
    <>
      <h1>Jobs</h1>
      {canRun && (
        <div className="actions section">
          <Link to="/jobs/new" className="btn btn-primary" data-testid="jobs-new">
            Run a job
          </Link>
        </div>
      )}
      <QueryView q={q} what="Loading jobs">
        {(d) =>
          d.items.length === 0 ? (
            <Empty>No jobs yet.{canRun ? ' Run one from a job file with "Run a job", or with `gpufleet jobs run FILE`.' : ''}</Empty>
          ) : (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>Job</th>
                    <th>Status</th>
                    <th className="num">Running</th>
                    <th className="num">GPUs</th>
                    <th className="num">Version</th>
                    <th>Kind</th>
                    <th>By</th>
                    <th>Age</th>
                  </tr>
                </thead>
                <tbody>
                  {[...d.items]
                    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
                    .map((j) => (
                      <tr key={j.name} data-testid="jobs-row" data-name={j.name} data-status={j.status} data-running={j.running} data-desired={j.desired}>
                        <td>
                          <Link to={jobPagePath(j.name)} className="mono">
                            {j.name}
                          </Link>
                        </td>
                        <td>
                          <StatusBadge value={j.status} />
                        </td>
                        <td className="num" title={`${j.running} of ${j.desired} allocations running`}>
                          {runningText(j)}
                        </td>
                        <td className="num">{j.gpus}</td>
                        <td className="num">v{j.version}</td>
                        <td>{j.kind}</td>
                        <td>{j.submittedBy}</td>
                        <td>
                          <Time at={j.createdAt} />
                        </td>
                      </tr>
                    ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryView>
    </>
  );
}

import { useQuery } from '@tanstack/react-query';
import { useApi, useCan } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import type { RunView } from '../lib/types.js';
import { Badge, Empty, QueryView, Time } from '../components/states.js';

/** Run history, newest first, with counts per target state. */
export function RunsPage() {
  const api = useApi();
  const canRun = useCan('operator');
  const q = useQuery({ queryKey: ['runs'], queryFn: () => api.get<{ items: RunView[] }>('/api/v1/runs?limit=100'), refetchInterval: 5_000 });
  return (
    <>
      <h1>Runs</h1>
      {canRun && (
        <div className="actions section">
          <Link to="/runs/new" className="btn btn-primary" data-testid="runs-new">
            New run
          </Link>
        </div>
      )}
      <QueryView q={q}>
        {(d) =>
          d.items.length === 0 ? (
            <Empty>No runs yet.</Empty>
          ) : (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>Run</th>
                    <th>State</th>
                    <th>Command</th>
                    <th>Hosts</th>
                    <th>Results</th>
                    <th>By</th>
                    <th>Started</th>
                  </tr>
                </thead>
                <tbody>
                  {d.items.map((r) => (
                    <tr key={r.id} data-testid="runs-row" data-id={r.id} data-state={r.state}>
                      <td>
                        <Link to={`/runs/${encodeURIComponent(r.id)}`} className="mono">
                          {r.id.slice(0, 12)}
                        </Link>
                      </td>
                      <td>
                        <Badge value={r.state} />
                      </td>
                      <td className="mono wrap">{r.command.summary}</td>
                      <td className="mono">
                        {r.selector} ({r.total})
                      </td>
                      <td>
                        {Object.entries(r.counts).map(([s, n]) => (
                          <span key={s} className="count">
                            <Badge value={s} /> {n}{' '}
                          </span>
                        ))}
                      </td>
                      <td>{r.createdBy}</td>
                      <td>
                        <Time at={r.createdAt} />
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

import { useQuery } from '@tanstack/react-query';
import { useApi } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import { currentStepText, releaseText, ROLLOUTS_API, rolloutPagePath, rolloutRefreshMs, type RolloutList, type RolloutView } from '../lib/rollouts.js';
import { Badge, Empty, QueryView, Time } from '../components/states.js';
import { CliHint } from '../components/cli-hint.js';
import { RolloutProgressBar } from '../components/rollout-progress.js';
import './rollouts.css';

function RolloutsTable({ items }: { items: RolloutView[] }) {
  if (items.length === 0)
    return (
      <Empty>
        No rollouts yet. Publish a release (<span className="mono">gpufleet releases publish</span>), then start one with{' '}
        <span className="mono">gpufleet rollouts start</span>.
      </Empty>
    );
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Release</th>
            <th>State</th>
            <th>Step</th>
            <th>Hosts</th>
            <th>Selector</th>
            <th>By</th>
            <th>Started</th>
          </tr>
        </thead>
        <tbody>
          {items.map((r) => (
            <tr key={r.id} data-testid="rollout-row" data-id={r.id} data-state={r.state}>
              <td>
                <Link to={rolloutPagePath(r.id)} className="mono" data-testid="rollout-row-release">
                  {releaseText(r.release)}
                </Link>
              </td>
              <td>
                <Badge value={r.state} />
              </td>
              <td data-testid="rollout-row-step">{currentStepText(r)}</td>
              <td>
                <RolloutProgressBar counts={r.counts} testid="rollout-row-progress" />
              </td>
              <td className="mono">{r.selector || 'every host'}</td>
              <td>{r.createdBy}</td>
              <td>
                <Time at={r.createdAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Every rollout as the server lists them (newest first), read again every few seconds while one is under way. */
export function RolloutsPage() {
  const api = useApi();
  const q = useQuery({
    queryKey: ['rollouts'],
    queryFn: () => api.get<RolloutList>(ROLLOUTS_API),
    refetchInterval: (query) => rolloutRefreshMs(query.state.data?.items ?? [], Date.now()),
  });
  return (
    <>
      <div className="toolbar">
        <h1>Rollouts</h1>
      </div>
      <QueryView q={q} what="Loading rollouts">
        {(d) => <RolloutsTable items={d.items} />}
      </QueryView>
      <CliHint command="gpufleet rollouts ls" />
    </>
  );
}

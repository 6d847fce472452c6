import { Link } from '../lib/router.js';
import { nodePath } from '../lib/node-path.js';
import { planSummary, type PlanView } from '../lib/workloads.js';
import { AllocGpus } from './alloc-gpus.js';
import './workloads.css';

/**
 * Where each allocation of a job would go (node, GPUs, score), what would be stopped, and for
 * each group that cannot be placed in full, why: the rejections with how many nodes each ruled out.
 */
export function PlanDetails({ plan, testid = 'plan' }: { plan: PlanView; testid?: string }) {
  return (
    <div className="plan" data-testid={testid} data-placed={plan.placements.length} data-failures={plan.failures.length}>
      <p data-testid={`${testid}-summary`}>{planSummary(plan)}</p>
      {plan.failures.map((f) => (
        <div key={f.group} className="plan-failure" role="alert" data-testid={`${testid}-failure`} data-group={f.group}>
          <p>
            <strong>
              {f.group}: {f.unplaced} allocation{f.unplaced === 1 ? '' : 's'} cannot be placed.
            </strong>{' '}
            {f.message}
          </p>
          {f.rejections.length > 0 && (
            <ul>
              {f.rejections.map((r) => (
                <li key={r.reason} data-reason={r.reason} data-nodes={r.nodes}>
                  {r.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      ))}
      {plan.placements.length > 0 && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Allocation</th>
                <th>Node</th>
                <th>GPUs</th>
                <th className="num">Score</th>
              </tr>
            </thead>
            <tbody>
              {plan.placements.map((p) => (
                <tr key={p.name} data-testid={`${testid}-placement`} data-name={p.name} data-node={p.hostname}>
                  <td className="mono">{p.name}</td>
                  <td>
                    <Link to={nodePath(p.nodeId)}>{p.hostname}</Link>
                  </td>
                  <td className="wrap">
                    <AllocGpus gpus={p.gpus} />
                  </td>
                  <td className="num">{Number.isFinite(p.score) ? p.score.toFixed(2) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {plan.stops.length > 0 && (
        <p className="muted">
          To stop: <span className="mono">{plan.stops.join(', ')}</span>
        </p>
      )}
    </div>
  );
}

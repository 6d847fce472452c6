import { Link } from '../lib/router.js';
import { nodePath } from '../lib/node-path.js';
import { allocLabel, isFinalAlloc, jobPagePath, sortAllocations, type AllocationView } from '../lib/workloads.js';
import { AllocGpus } from './alloc-gpus.js';
import { HealthBadge, StatusBadge } from './workload-badges.js';
import { Empty, Time } from './states.js';
import './workloads.css';

/**
 * Allocations with where they run, their GPUs (index and UUID), status, health, restarts and
 * age. On a job's page the rows name the node and offer the log; on a node's page they name
 * the job instead (`show: 'job'`).
 */
export function AllocationsTable({
  allocations,
  show,
  onLogs,
  selected,
  empty,
}: {
  allocations: readonly AllocationView[];
  show: 'node' | 'job';
  onLogs?: (a: AllocationView) => void;
  /** The allocation whose log is open. */
  selected?: string | null;
  empty: string;
}) {
  if (allocations.length === 0) return <Empty>{empty}</Empty>;
  return (
    <div className="table-wrap">
      <table className="allocations-table">
        <thead>
          <tr>
            <th>{show === 'job' ? 'Allocation' : 'Name'}</th>
            <th>{show === 'job' ? 'Version' : 'Node'}</th>
            <th>GPUs</th>
            <th>Status</th>
            <th>Health</th>
            <th className="num">Restarts</th>
            <th>Age</th>
            <th>Message</th>
            {onLogs && <th>Log</th>}
          </tr>
        </thead>
        <tbody>
          {sortAllocations(allocations).map((a) => (
            <tr
              key={a.id}
              data-testid="alloc-row"
              data-id={a.id}
              data-name={a.name}
              data-status={a.status}
              data-desired={a.desired}
              data-node={a.hostname}
              aria-selected={selected === a.id ? true : undefined}
            >
              <td>
                {show === 'job' ? (
                  <Link to={jobPagePath(a.job, a.name)} className="mono">
                    {allocLabel(a)}
                  </Link>
                ) : (
                  <span className="mono" title={a.id}>
                    {a.name}
                  </span>
                )}
                {a.desired === 'stop' && !isFinalAlloc(a) && (
                  <span className="muted"> (stopping{a.stopCause ? `: ${a.stopCause.replace(/_/g, ' ')}` : ''})</span>
                )}
              </td>
              <td>
                {show === 'job' ? (
                  <span>v{a.jobVersion}</span>
                ) : (
                  <Link to={nodePath(a.nodeId)} data-testid="alloc-node">
                    {a.hostname}
                  </Link>
                )}
              </td>
              <td className="wrap">
                <AllocGpus gpus={a.gpus} />
              </td>
              <td>
                <StatusBadge value={a.status} />
              </td>
              <td>
                <HealthBadge healthy={a.healthy} />
              </td>
              <td className="num">{a.restarts}</td>
              <td>
                <Time at={a.createdAt} />
              </td>
              <td className="wrap alloc-message">
                {a.message}
                {a.exitCode !== null && <span className="muted"> (exit {a.exitCode})</span>}
                {a.replacedBy && <span className="muted"> replaced by {a.replacedBy.slice(0, 12)}</span>}
              </td>
              {onLogs && (
                <td>
                  <button
                    type="button"
                    className="btn btn-small"
                    onClick={() => onLogs(a)}
                    aria-pressed={selected === a.id}
                    aria-label={`Log of ${a.name} on ${a.hostname}`}
                    data-testid="alloc-logs"
                  >
                    Log
                  </button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

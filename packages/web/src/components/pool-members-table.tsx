import { Link } from '../lib/router.js';
import { nodePath } from '../lib/node-path.js';
import { costText, type PoolMemberView } from '../lib/pools.js';
import { Badge, Empty } from './states.js';

/** Member states in reading order: the ones serving first, then the ones on their way in or out. */
const STATE_ORDER: Record<string, number> = { active: 0, joining: 1, provisioning: 2, terminating: 3, terminated: 4 };

function sortMembers(list: readonly PoolMemberView[]): PoolMemberView[] {
  return [...list].sort(
    (a, b) =>
      (STATE_ORDER[a.state] ?? 9) - (STATE_ORDER[b.state] ?? 9) ||
      (a.provisionedAt < b.provisionedAt ? -1 : a.provisionedAt > b.provisionedAt ? 1 : 0) ||
      (a.instanceId < b.instanceId ? -1 : 1),
  );
}

/**
 * The pool's instances: the node each enrolled as (a link to its page), zone, the member's state,
 * the node's status and health, GPUs, allocations and price. With `onReplace` (operators and admins), a
 * member with a node gets "Replace", unless a replacement of it is already under way.
 */
export function PoolMembersTable({
  members,
  replacing,
  onReplace,
  busy,
}: {
  members: readonly PoolMemberView[];
  /** Node ids with a replacement in flight. */
  replacing: ReadonlySet<string>;
  onReplace?: (m: PoolMemberView) => void;
  busy?: boolean;
}) {
  if (members.length === 0) return <Empty>No members: the pool has no instances yet.</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Instance</th>
            <th>Node</th>
            <th>Zone</th>
            <th>State</th>
            <th>Node status</th>
            <th>Health</th>
            <th className="num">GPUs</th>
            <th className="num">Allocations</th>
            <th className="num">$/h</th>
            {onReplace && <th>Actions</th>}
          </tr>
        </thead>
        <tbody>
          {sortMembers(members).map((m) => (
            <tr
              key={m.instanceId}
              data-testid="pool-member"
              data-instance={m.instanceId}
              data-node={m.nodeId ?? ''}
              data-state={m.state}
              data-health={m.health ?? ''}
            >
              <td className="mono">{m.instanceId}</td>
              <td>
                {m.nodeId ? (
                  <Link to={nodePath(m.nodeId)} className="mono" data-testid="pool-member-node">
                    {m.hostname ?? `${m.nodeId.slice(0, 20)}…`}
                  </Link>
                ) : (
                  <span className="muted">not joined</span>
                )}
              </td>
              <td>{m.zone ?? '—'}</td>
              <td>
                <Badge value={m.state} />
              </td>
              <td>{m.nodeStatus ? <Badge value={m.nodeStatus} /> : '—'}</td>
              <td>{m.health ? <Badge value={m.health} /> : '—'}</td>
              <td className="num">{m.gpus}</td>
              <td className="num">{m.allocations}</td>
              <td className="num">{costText(m.pricePerHour)}</td>
              {onReplace && (
                <td>
                  {m.nodeId && replacing.has(m.nodeId) ? (
                    <span className="muted" data-testid="pool-member-replacing">
                      being replaced
                    </span>
                  ) : m.nodeId && m.state === 'active' ? (
                    <button
                      type="button"
                      className="btn btn-small btn-danger"
                      disabled={busy}
                      onClick={() => onReplace(m)}
                      aria-label={`Replace ${m.hostname ?? m.instanceId}`}
                      data-testid="pool-member-replace"
                    >
                      Replace
                    </button>
                  ) : null}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

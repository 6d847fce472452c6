import { useId } from 'react';
import { Link } from '../lib/router.js';
import { nodePath } from '../lib/node-path.js';
import {
  filterHosts,
  HOST_GROUP_LABELS,
  HOST_GROUPS,
  hostFilterCounts,
  versionChange,
  type HostFilter,
  type RolloutHostView,
  type RolloutStepView,
} from '../lib/rollouts.js';
import { Badge, Empty, Time } from './states.js';
import '../pages/rollouts.css';

/** Every host the rollout chose, filtered by state group, with its step, versions and last word. */
export function RolloutHostsTable({
  hosts,
  steps,
  filter,
  onFilter,
}: {
  hosts: RolloutHostView[];
  steps: RolloutStepView[];
  filter: HostFilter;
  onFilter: (f: HostFilter) => void;
}) {
  const selectId = useId();
  const counts = hostFilterCounts(hosts);
  const shown = filterHosts(hosts, filter);
  const stepName = (i: number) => steps[i]?.name ?? `step ${i + 1}`;
  return (
    <>
      <div className="ro-filter">
        <label htmlFor={selectId}>Show</label>
        <select id={selectId} value={filter} onChange={(e) => onFilter(e.target.value as HostFilter)} data-testid="rollout-host-filter">
          <option value="all">all hosts ({counts.all})</option>
          {HOST_GROUPS.map((g) => (
            <option key={g} value={g}>
              {HOST_GROUP_LABELS[g]} ({counts[g]})
            </option>
          ))}
        </select>
      </div>
      {shown.length === 0 ? (
        <Empty>{hosts.length === 0 || filter === 'all' ? 'The rollout chose no host.' : `No host is ${HOST_GROUP_LABELS[filter]}.`}</Empty>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Host</th>
                <th>Step</th>
                <th>State</th>
                <th>Version</th>
                <th>Healthy since</th>
                <th>Message</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((h) => (
                <tr key={h.nodeId} data-testid="rollout-host" data-hostname={h.hostname} data-state={h.state}>
                  <td>
                    <Link to={nodePath(h.nodeId)} className="mono">
                      {h.hostname}
                    </Link>
                  </td>
                  <td>{stepName(h.step)}</td>
                  <td>
                    <Badge value={h.state} />
                  </td>
                  <td className="mono" data-testid="rollout-host-version">
                    {versionChange(h)}
                  </td>
                  <td>{h.healthySince ? <Time at={h.healthySince} /> : '—'}</td>
                  <td className="wrap" data-testid="rollout-host-message">
                    {h.message ?? ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

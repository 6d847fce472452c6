import type { DeploymentView } from '../lib/workloads.js';
import { StatusBadge } from './workload-badges.js';
import { Time } from './states.js';

/** A job's rolling update (the one in progress, or the last): from and to which version, canaries, placed and healthy so far. */
export function DeploymentCard({ deployment: d }: { deployment: DeploymentView }) {
  return (
    <section className="card" data-testid="job-deployment" data-state={d.state}>
      <h2>
        Update {d.fromVersion === null ? `to v${d.toVersion}` : `v${d.fromVersion} → v${d.toVersion}`} <StatusBadge value={d.state} />
      </h2>
      <dl className="kv">
        <dt>Placed</dt>
        <dd>{d.placed}</dd>
        <dt>Healthy</dt>
        <dd>{d.healthy}</dd>
        <dt>Canaries</dt>
        <dd>{d.canaries}</dd>
        <dt>Started</dt>
        <dd>
          <Time at={d.startedAt} />
        </dd>
        {d.finishedAt && (
          <>
            <dt>Finished</dt>
            <dd>
              <Time at={d.finishedAt} />
            </dd>
          </>
        )}
      </dl>
      {d.message && <p className="wrap">{d.message}</p>}
    </section>
  );
}

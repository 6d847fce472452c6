import type { JobSpec } from '@gpufleet/protocol';
import { formatDuration } from '../lib/format.js';
import { resourcesText } from '../lib/workloads.js';
import './workloads.css';

/**
 * A normalized job spec in words: each group (how many, what runs, on what GPUs, its health
 * check and restart policy), where it may run (constraints, strategy, pins) and how updates
 * roll. The exact JSON is shown beside it wherever a spec is about to be signed.
 */
export function JobSpecSummary({ spec }: { spec: JobSpec }) {
  const pins = Object.entries(spec.pin);
  return (
    <dl className="kv job-spec" data-testid="job-spec-summary" data-name={spec.name}>
      <dt>Job</dt>
      <dd>
        <span className="mono">{spec.name}</span> <span className="muted">({spec.kind})</span>
      </dd>
      {Object.entries(spec.allocations).map(([group, g]) => (
        <div key={group} className="job-spec-group" data-testid="job-spec-group" data-group={group} data-count={g.count}>
          <dt>
            <span className="mono">{group}</span> × {g.count}
          </dt>
          <dd>
            <div>
              {g.executor}:{' '}
              <span className="mono wrap">
                {g.image ?? ''}
                {g.command ? `${g.image ? ' ' : ''}${g.command.join(' ')}` : ''}
              </span>
            </div>
            <div>each: {resourcesText(g.resources)}</div>
            {g.health && (
              <div className="muted">
                health: {g.health.http ? `http ${g.health.http}` : g.health.tcp ? `tcp ${g.health.tcp}` : `command ${g.health.command?.join(' ')}`} every{' '}
                {formatDuration(g.health.interval)}
              </div>
            )}
            <div className="muted">
              restart: up to {g.restart.attempts} within {formatDuration(g.restart.within)}, {formatDuration(g.restart.delay)} apart
            </div>
            {Object.keys(g.env).length > 0 && <div className="muted mono wrap">env: {Object.keys(g.env).join(', ')}</div>}
          </dd>
        </div>
      ))}
      <dt>Placement</dt>
      <dd>
        {spec.strategy}
        {spec.spread ? ` over ${spec.spread}` : ''}
        {spec.constraints.length > 0 && (
          <>
            {' '}
            on nodes matching <span className="mono">{spec.constraints.join(', ')}</span>
          </>
        )}
        {pins.length > 0 && <div className="mono">pinned: {pins.map(([a, n]) => `${a} → ${n}`).join(', ')}</div>}
      </dd>
      <dt>Updates</dt>
      <dd>
        {spec.update.max_parallel} at a time, {spec.update.canary} canar{spec.update.canary === 1 ? 'y' : 'ies'}, healthy for{' '}
        {formatDuration(spec.update.healthy_for)}
        {spec.update.auto_revert ? ', reverted automatically when not' : ''}
      </dd>
    </dl>
  );
}

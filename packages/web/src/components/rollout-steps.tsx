import { rolloutIsOver, stepStateText, type RolloutView } from '../lib/rollouts.js';
import { Badge, Time } from './states.js';
import '../pages/rollouts.css';

/** A rollout's steps (canary, then the waves) as a row of cards, the one under way marked. */
export function RolloutSteps({ rollout }: { rollout: Pick<RolloutView, 'steps' | 'step' | 'plan' | 'state'> }) {
  const { steps, step: current } = rollout;
  const over = rolloutIsOver(rollout.state);
  if (steps.length === 0) return <p className="muted">No steps: no host matched the selector when the rollout started.</p>;
  return (
    <ol className="ro-steps" data-testid="rollout-steps">
      {steps.map((s) => (
        <li
          key={s.index}
          className="card ro-step"
          data-testid="rollout-step"
          data-name={s.name}
          data-state={s.state}
          aria-current={!over && s.index === current ? 'step' : undefined}
        >
          <h3>{s.name}</h3>
          <p>
            <Badge value={s.state} /> <span className="muted">{stepStateText(s, rollout)}</span>
          </p>
          <p data-testid="rollout-step-hosts">
            {s.hosts} host{s.hosts === 1 ? '' : 's'}
          </p>
          <p className="muted">
            started {s.startedAt ? <Time at={s.startedAt} /> : 'not yet'}
            {s.doneAt && (
              <>
                , done <Time at={s.doneAt} />
              </>
            )}
          </p>
        </li>
      ))}
    </ol>
  );
}

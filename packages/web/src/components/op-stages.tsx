import { opSteps, type PoolOperationView } from '../lib/pools.js';
import './pools.css';

/**
 * An operation's stages as a step progress: an ordered list where each step says in words
 * whether it is done, under way or to come (the tick and the colour only repeat that), and the
 * step under way is the list's current step for screen readers.
 */
export function OpStages({ op }: { op: Pick<PoolOperationView, 'kind' | 'stage' | 'id'> }) {
  const failed = op.stage === 'failed';
  // A failed operation does not say where it stopped: its error does, beside it.
  const steps = failed ? [] : opSteps(op);
  return (
    <ol className="op-steps" aria-label={`${op.kind} ${failed ? 'failed' : `at ${op.stage}`}`} data-testid="op-steps" data-stage={op.stage}>
      {steps.map((s) => (
        <li
          key={s.stage}
          className={`op-step op-step-${s.state}`}
          data-testid="op-step"
          data-stage={s.stage}
          data-state={s.state}
          aria-current={s.state === 'current' ? 'step' : undefined}
        >
          <span className="op-step-mark" aria-hidden="true">
            {s.state === 'done' ? '✓' : s.state === 'current' ? '●' : '○'}
          </span>
          {s.stage}
          <span className="op-sr">{s.state === 'done' ? ' (done)' : s.state === 'current' ? ' (under way)' : ' (to come)'}</span>
        </li>
      ))}
      {failed && (
        <li className="op-step op-step-failed" data-testid="op-step" data-stage="failed" data-state="failed">
          <span className="op-step-mark" aria-hidden="true">
            ✕
          </span>
          failed
        </li>
      )}
    </ol>
  );
}

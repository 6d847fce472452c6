import { PROGRESS_PARTS, progressText, rolloutProgress, type RolloutCounts } from '../lib/rollouts.js';
import '../pages/rollouts.css';

/**
 * A rollout's hosts as one bar (healthy, updating, failed, rolled back, skipped; the rest pending) with the
 * counts in words beside it: the words carry the meaning, the colours only help the eye.
 */
export function RolloutProgressBar({ counts, testid = 'rollout-progress' }: { counts: RolloutCounts; testid?: string }) {
  const p = rolloutProgress(counts);
  const parts = PROGRESS_PARTS.filter((k) => p[k] > 0);
  return (
    <div
      className="ro-progress"
      data-testid={testid}
      data-total={p.total}
      data-healthy={p.healthy}
      data-updating={p.updating}
      data-failed={p.failed}
      data-rolled-back={p.rolledBack}
      data-skipped={p.skipped}
    >
      <div className="ro-bar" aria-hidden="true">
        {parts.map((k) => (
          <span key={k} className={`ro-bar-${k === 'rolledBack' ? 'rolled-back' : k}`} style={{ width: `${p.share[k]}%` }} />
        ))}
      </div>
      <span className="ro-progress-text">{progressText(p)}</span>
    </div>
  );
}

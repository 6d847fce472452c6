import { statusTone, type StatusTone } from '../lib/workloads.js';

/** The shared badge colours for each tone (styles.css). */
const TONE_CLASS: Record<StatusTone, string> = { good: 'badge-ok', busy: 'badge-warning', bad: 'badge-error', idle: '' };

/**
 * A job, allocation, version or deployment status as a badge. Coloured by what it means for a
 * workload (`running` is good here, where a run's `running` is still on its way); the word
 * itself carries the meaning, not the colour alone.
 */
export function StatusBadge({ value, testid }: { value: string; testid?: string }) {
  return (
    <span className={`badge ${TONE_CLASS[statusTone(value)]}`} data-testid={testid} data-status={value}>
      {value}
    </span>
  );
}

/** An allocation's health check verdict: healthy, unhealthy, or a dash without a check (or before the first). */
export function HealthBadge({ healthy }: { healthy: boolean | null }) {
  if (healthy === null)
    return (
      <span className="muted" title="no health check, or none has run yet" data-health="none">
        —
      </span>
    );
  return (
    <span className={`badge ${healthy ? 'badge-ok' : 'badge-error'}`} data-health={healthy ? 'healthy' : 'unhealthy'}>
      {healthy ? 'healthy' : 'unhealthy'}
    </span>
  );
}

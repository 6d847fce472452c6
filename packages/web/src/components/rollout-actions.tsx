import { useMutation, useQueryClient } from '@tanstack/react-query';
import { ApiError } from '../lib/api.js';
import { useApi, useCan } from '../lib/auth.js';
import { releaseText, rolloutActions, rolloutApiPath, type RolloutAction, type RolloutDetail } from '../lib/rollouts.js';
import { useConfirm } from './dialog.js';
import '../pages/rollouts.css';

const LABELS: Record<RolloutAction, { idle: string; busy: string }> = {
  pause: { idle: 'Pause', busy: 'Pausing…' },
  resume: { idle: 'Resume', busy: 'Resuming…' },
  abort: { idle: 'Abort…', busy: 'Aborting…' },
};

/** "Abort refused (failed_precondition): rollout ro_1 is succeeded": what was asked, and the server's own words. */
export function actionErrorText(action: RolloutAction, err: unknown): string {
  const verb = action[0]!.toUpperCase() + action.slice(1);
  if (err instanceof ApiError) return err.status === 0 ? `${verb} failed: ${err.message}` : `${verb} refused (${err.code}): ${err.message}`;
  return `${verb} failed: ${err instanceof Error ? err.message : String(err)}`;
}

/**
 * Pause, Resume and Abort for operators, as the rollout's state allows; a viewer sees none.
 * Abort asks first, with an optional reason and "roll back hosts" ticked by default. The
 * server's answer replaces the page's rollout; its refusal is shown under the buttons.
 */
export function RolloutActions({ rollout }: { rollout: RolloutDetail }) {
  const api = useApi();
  const qc = useQueryClient();
  const confirm = useConfirm();
  const canAct = useCan('operator');
  const act = useMutation({
    mutationFn: ({ action, body }: { action: RolloutAction; body: Record<string, unknown> }) =>
      api.post<RolloutDetail>(`${rolloutApiPath(rollout.id)}/${action}`, body),
    onSuccess: (r) => {
      qc.setQueryData(['rollout', rollout.id], r);
      void qc.invalidateQueries({ queryKey: ['rollouts'] });
    },
  });
  const actions = rolloutActions(rollout.state);
  // A refusal stays in view even when the rollout moved on and no button is left.
  if (!canAct || (actions.length === 0 && !act.error)) return null;

  const askAbort = async () => {
    // The dialog owns its form; the checkbox reports into this closure as it changes.
    let rollback = true;
    const reason = await confirm({
      title: `Abort the rollout of ${releaseText(rollout.release)}?`,
      body: (
        <>
          <p>No more hosts are sent the release. Hosts still updating finish what they started.</p>
          <label className="ro-abort-rollback">
            <input
              type="checkbox"
              defaultChecked
              onChange={(e) => {
                rollback = e.target.checked;
              }}
              data-testid="rollout-abort-rollback"
            />
            Roll back the hosts that took it, to what they ran before
          </label>
        </>
      ),
      confirmLabel: 'Abort rollout',
      cancelLabel: 'Keep it',
      danger: true,
      reason: 'optional',
    });
    if (reason === null) return;
    act.mutate({ action: 'abort', body: reason ? { reason, rollback } : { rollback } });
  };
  const run = (action: RolloutAction) => {
    if (action === 'abort') void askAbort();
    else act.mutate({ action, body: {} });
  };

  return (
    <div className="ro-actions">
      <div className="actions">
        {actions.map((a) => (
          <button
            key={a}
            type="button"
            className={a === 'abort' ? 'btn btn-danger' : a === 'resume' ? 'btn btn-primary' : 'btn'}
            disabled={act.isPending}
            onClick={() => run(a)}
            data-testid={`rollout-${a}`}
          >
            {act.isPending && act.variables?.action === a ? LABELS[a].busy : LABELS[a].idle}
          </button>
        ))}
      </div>
      {act.error && act.variables && (
        <p className="form-error" role="alert" data-testid="rollout-action-error">
          {actionErrorText(act.variables.action, act.error)}
        </p>
      )}
    </div>
  );
}

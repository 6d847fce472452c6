import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { parseScaleTarget, type PoolView } from '../lib/pools.js';
import './dialog.css';
import './pools.css';

/**
 * "Scale to…": the number of nodes and the reason, checked here before anything is sent (a whole
 * number within the pool's min..max, a reason that is not blank). `onScale` sends it; its
 * refusal is shown in the dialog, which stays open with what was typed.
 */
export function ScaleDialog({
  pool,
  onScale,
  onClose,
}: {
  pool: Pick<PoolView, 'name' | 'desired' | 'minNodes' | 'maxNodes'>;
  onScale: (to: number, reason: string) => Promise<void>;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const sizeRef = useRef<HTMLInputElement>(null);
  const [size, setSize] = useState(String(pool.desired));
  const [reason, setReason] = useState('');
  const [touched, setTouched] = useState(false);
  const [sending, setSending] = useState(false);
  const [refusal, setRefusal] = useState<string | null>(null);
  const ids = { title: useId(), size: useId(), sizeHelp: useId(), sizeError: useId(), reason: useId(), reasonError: useId() };

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    // jsdom has no showModal: an open dialog with the same content serves there.
    if (typeof el.showModal === 'function') {
      if (!el.open) el.showModal();
    } else el.setAttribute('open', '');
    sizeRef.current?.select();
    return () => {
      if (el.open && typeof el.close === 'function') el.close();
    };
  }, []);

  const target = parseScaleTarget(size, pool.minNodes, pool.maxNodes);
  const reasonMissing = reason.trim() === '';
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setTouched(true);
    setRefusal(null);
    if (!target.ok || reasonMissing) return;
    setSending(true);
    try {
      await onScale(target.to, reason.trim());
      onClose();
    } catch (err) {
      setRefusal(err instanceof Error ? err.message : String(err));
      setSending(false);
    }
  };
  const sizeError = touched && !target.ok ? target.message : null;
  const reasonError = touched && reasonMissing ? 'Reason: say why (it is kept with the decision)' : null;

  return (
    <dialog
      ref={ref}
      className="confirm-dialog"
      aria-labelledby={ids.title}
      data-testid="scale-dialog"
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          onClose();
        }
      }}
    >
      <form className="confirm-form" onSubmit={(e) => void submit(e)} noValidate>
        <h2 id={ids.title} className="confirm-title">
          Scale pool {pool.name}
        </h2>
        <div className="field">
          <label htmlFor={ids.size}>Nodes</label>
          <input
            id={ids.size}
            ref={sizeRef}
            inputMode="numeric"
            autoComplete="off"
            value={size}
            onChange={(e) => setSize(e.target.value)}
            aria-invalid={sizeError ? true : undefined}
            aria-describedby={sizeError ? `${ids.sizeHelp} ${ids.sizeError}` : ids.sizeHelp}
            data-testid="scale-to"
          />
          <small id={ids.sizeHelp} className="muted">
            Now {pool.desired}; between {pool.minNodes} and {pool.maxNodes}.
          </small>
          {sizeError && (
            <p id={ids.sizeError} className="form-error" role="alert" data-testid="scale-to-error">
              {sizeError}
            </p>
          )}
        </div>
        <div className="field">
          <label htmlFor={ids.reason}>
            Reason <small>(required)</small>
          </label>
          <input
            id={ids.reason}
            value={reason}
            maxLength={500}
            autoComplete="off"
            onChange={(e) => setReason(e.target.value)}
            aria-required="true"
            aria-invalid={reasonError ? true : undefined}
            aria-describedby={reasonError ? ids.reasonError : undefined}
            data-testid="scale-reason"
          />
          {reasonError && (
            <p id={ids.reasonError} className="form-error" data-testid="scale-reason-error">
              {reasonError}
            </p>
          )}
        </div>
        {refusal && (
          <p className="form-error" role="alert" data-testid="scale-refused">
            {refusal}
          </p>
        )}
        <div className="confirm-buttons">
          <button type="button" className="btn" onClick={onClose} data-testid="scale-cancel">
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={sending} data-testid="scale-ok">
            {sending ? 'Scaling…' : 'Scale'}
          </button>
        </div>
      </form>
    </dialog>
  );
}

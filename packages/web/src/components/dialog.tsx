import { createContext, useCallback, useContext, useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import './dialog.css';

/** What a confirmation asks. */
export interface ConfirmOptions {
  title: string;
  /** What will happen, in words; shown under the title. */
  body?: ReactNode;
  /** The confirm button's label, a verb such as "Cordon". Default "Confirm". */
  confirmLabel?: string;
  cancelLabel?: string;
  /** A destructive action: red confirm button, and the focus starts on Cancel. */
  danger?: boolean;
  /** Ask for a reason: 'required' keeps the confirm button off until it is not blank. */
  reason?: 'optional' | 'required';
  reasonLabel?: string;
  /** Text the person must type exactly (e.g. a hostname) before confirm turns on. */
  typeToConfirm?: string;
}

/**
 * Resolves to the trimmed reason ('' when none was asked or given) on confirm, or null when the
 * person cancelled (button, Esc, or a newer confirmation replacing this one).
 */
export type Confirm = (opts: ConfirmOptions) => Promise<string | null>;

interface Request {
  id: number;
  opts: ConfirmOptions;
  resolve: (value: string | null) => void;
  /** Focus goes back here when the dialog closes. */
  opener: HTMLElement | null;
}

const ConfirmContext = createContext<Confirm | null>(null);

/** Holds the one confirmation dialog of the app; pages ask through useConfirm(). */
export function ConfirmProvider({ children }: { children: ReactNode }) {
  const [request, setRequest] = useState<Request | null>(null);
  const current = useRef<Request | null>(null);
  const nextId = useRef(1);

  const confirm = useCallback<Confirm>((opts) => {
    // A second confirmation replaces the first, which counts as cancelled.
    current.current?.resolve(null);
    return new Promise<string | null>((resolve) => {
      const active = document.activeElement;
      const req: Request = { id: nextId.current++, opts, resolve, opener: active instanceof HTMLElement && active !== document.body ? active : null };
      current.current = req;
      setRequest(req);
    });
  }, []);

  const finish = useCallback((req: Request, value: string | null) => {
    if (current.current !== req) return;
    current.current = null;
    setRequest(null);
    req.resolve(value);
    // The opener may be gone (Cordon became Uncordon): then the focus stays where the browser puts it.
    if (req.opener?.isConnected) req.opener.focus();
  }, []);

  // An unmounted provider leaves no promise hanging.
  useEffect(() => () => current.current?.resolve(null), []);

  return (
    <ConfirmContext.Provider value={confirm}>
      {children}
      {request && <ConfirmDialog key={request.id} opts={request.opts} onDone={(v) => finish(request, v)} />}
    </ConfirmContext.Provider>
  );
}

/** `const confirm = useConfirm(); const reason = await confirm({ title: 'Drain?' }); if (reason === null) return;` */
export function useConfirm(): Confirm {
  const c = useContext(ConfirmContext);
  if (!c) throw new Error('useConfirm outside ConfirmProvider');
  return c;
}

/** The modal itself: a native <dialog> opened with showModal (focus moves in, Esc cancels). */
export function ConfirmDialog({ opts, onDone }: { opts: ConfirmOptions; onDone: (value: string | null) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const reasonRef = useRef<HTMLInputElement>(null);
  const typedRef = useRef<HTMLInputElement>(null);
  const okRef = useRef<HTMLButtonElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const done = useRef(false);
  const [reason, setReason] = useState('');
  const [typed, setTyped] = useState('');
  const ids = { title: useId(), body: useId(), reason: useId(), typed: useId() };

  const settle = useCallback(
    (value: string | null) => {
      if (done.current) return;
      done.current = true;
      const el = ref.current;
      if (el?.open && typeof el.close === 'function') el.close();
      onDone(value);
    },
    [onDone],
  );

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    // Browsers without showModal (jsdom among them) get a plain open dialog: same content and
    // keys, but no inert page behind it.
    if (typeof el.showModal === 'function') {
      if (!el.open) el.showModal();
    } else {
      el.setAttribute('open', '');
    }
    const first = reasonRef.current ?? typedRef.current ?? (opts.danger ? cancelRef.current : okRef.current);
    first?.focus();
  }, [opts.danger]);

  const reasonMissing = opts.reason === 'required' && reason.trim() === '';
  const typedWrong = opts.typeToConfirm !== undefined && typed.trim() !== opts.typeToConfirm;
  const blocked = reasonMissing || typedWrong;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!blocked) settle(opts.reason ? reason.trim() : '');
  };

  return (
    <dialog
      ref={ref}
      className="confirm-dialog"
      aria-labelledby={ids.title}
      aria-describedby={opts.body ? ids.body : undefined}
      data-testid="confirm-dialog"
      // Esc: browsers fire `cancel`; the fallback without showModal sees only the key.
      onCancel={(e) => {
        e.preventDefault();
        settle(null);
      }}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          settle(null);
        }
      }}
    >
      <form onSubmit={submit} className="confirm-form">
        <h2 id={ids.title} className="confirm-title">
          {opts.title}
        </h2>
        {opts.body && (
          <div id={ids.body} className="confirm-body">
            {opts.body}
          </div>
        )}
        {opts.reason && (
          <div className="field">
            <label htmlFor={ids.reason}>
              {opts.reasonLabel ?? 'Reason'} <small>{opts.reason === 'required' ? '(required)' : '(optional)'}</small>
            </label>
            <input
              id={ids.reason}
              ref={reasonRef}
              value={reason}
              maxLength={500}
              onChange={(e) => setReason(e.target.value)}
              aria-required={opts.reason === 'required'}
              autoComplete="off"
              data-testid="confirm-reason"
            />
          </div>
        )}
        {opts.typeToConfirm !== undefined && (
          <div className="field">
            <label htmlFor={ids.typed}>
              Type <code>{opts.typeToConfirm}</code> to confirm
            </label>
            <input
              id={ids.typed}
              ref={typedRef}
              value={typed}
              onChange={(e) => setTyped(e.target.value)}
              autoComplete="off"
              spellCheck={false}
              data-testid="confirm-type"
            />
          </div>
        )}
        <div className="confirm-buttons">
          <button type="button" ref={cancelRef} className="btn" onClick={() => settle(null)} data-testid="confirm-cancel">
            {opts.cancelLabel ?? 'Cancel'}
          </button>
          <button type="submit" ref={okRef} className={`btn ${opts.danger ? 'btn-danger-solid' : 'btn-primary'}`} disabled={blocked} data-testid="confirm-ok">
            {opts.confirmLabel ?? 'Confirm'}
          </button>
        </div>
      </form>
    </dialog>
  );
}

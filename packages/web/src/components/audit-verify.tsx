import { useState } from 'react';
import './audit-verify.css';
import { Time } from './states.js';

/** GET /api/v1/audit/verify, as the server answers it (packages/server/src/audit/audit-verify.ts). */
export interface AuditVerifyReply {
  ok: boolean;
  checked: number;
  legacy: number;
  firstBroken?: { id: number; reason: string };
  checkpoint?: { status: string; id?: number; at?: number; unsigned?: number; reason?: string };
}

const plural = (n: number, one: string) => `${n.toLocaleString()} ${one}${n === 1 ? '' : 's'}`;

/** One sentence for the verdict: what was checked, and what is wrong if anything is. */
export function auditVerdictText(r: AuditVerifyReply): string {
  const legacy = r.legacy > 0 ? ` (${plural(r.legacy, 'older record')} predate the chain)` : '';
  if (r.firstBroken) return `Broken at record ${r.firstBroken.id}: ${r.firstBroken.reason}. ${plural(r.checked, 'record')} checked${legacy}.`;
  const c = r.checkpoint;
  if (c && c.status !== 'ok' && c.status !== 'none')
    return `The chain does not match the control plane's signed checkpoint (${c.status}): ${c.reason ?? 'no reason given'}.`;
  return `Intact: ${plural(r.checked, 'record')} checked${legacy}.`;
}

/** Checks the audit chain on demand and shows the verdict; a broken chain is an alert. */
export function AuditVerifyPanel({ verify }: { verify: () => Promise<AuditVerifyReply> }) {
  const [state, setState] = useState<{ busy: boolean; reply: AuditVerifyReply | null; error: string | null }>({ busy: false, reply: null, error: null });
  const run = async () => {
    setState({ busy: true, reply: null, error: null });
    try {
      setState({ busy: false, reply: await verify(), error: null });
    } catch (err) {
      setState({ busy: false, reply: null, error: err instanceof Error ? err.message : String(err) });
    }
  };
  const r = state.reply;
  const c = r?.checkpoint;
  return (
    <section className="card" aria-labelledby="audit-verify-title" data-testid="audit-verify">
      <h2 id="audit-verify-title">Integrity</h2>
      <p className="muted">
        Every record carries the hash of the one before it, and the control plane signs the newest one with its own key, so an edited, removed or rewritten
        record shows here.
      </p>
      <button type="button" className="btn" onClick={() => void run()} disabled={state.busy} data-testid="audit-verify-run">
        {state.busy ? 'Checking…' : 'Verify the chain'}
      </button>
      {state.error && (
        <p className="state state-error" role="alert">
          Could not check: {state.error}
        </p>
      )}
      {r && (
        <div className={`state ${r.ok ? 'state-ok' : 'state-error'}`} role={r.ok ? 'status' : 'alert'} data-testid="audit-verify-result" data-ok={String(r.ok)}>
          <strong>{r.ok ? 'Chain intact.' : 'Chain broken.'}</strong> {auditVerdictText(r)}
          {r.ok && c?.status === 'ok' && c.id !== undefined && (
            <>
              {' '}
              {c.id === 0 ? 'The empty chain was signed' : <>Signed up to record {c.id.toLocaleString()}</>} <Time at={c.at} />
              {c.unsigned ? `; ${plural(c.unsigned, 'newer record')} not yet signed.` : '.'}
            </>
          )}
        </div>
      )}
    </section>
  );
}

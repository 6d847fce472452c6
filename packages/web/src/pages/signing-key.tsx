import { useRef, useState, type FormEvent } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useApi, useCan } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import { formatAbsolute } from '../lib/format.js';
import { Empty, ErrorBox, Loading, useNow } from '../components/states.js';
import { createBrowserSigner } from '../lib/signing/browser-signer.js';
import { parseCapabilityText } from '../lib/signing/capability-file.js';
import { lookUpAuthority, type KeyAuthority } from '../lib/signing/capability-lookup.js';
import { CapabilityView } from '../lib/signing/capability-view.js';
import { parseKeyFile, unlockKeyFile, type KeyFile } from '../lib/signing/key-file.js';
import { IDLE_FORGET_MS, useSignerControl } from '../lib/signing/signer-context.js';
import './signing-key.css';

const authorityKey = (did: string) => ['key-authority', did];

/** What the page promises about the key; the same rules are in signer-context.tsx. */
function SafetyNote() {
  return (
    <details className="card section key-safety" data-testid="key-safety">
      <summary>How the key is kept safe</summary>
      <ul>
        <li>
          The key is unlocked here, in this tab, and kept only in memory as a WebCrypto key that page code cannot read back. It is never stored in the browser
          and never sent to the server: only signed commands are.
        </li>
        <li>It is forgotten when you sign out, reload or leave the page, press “Forget key”, or after {IDLE_FORGET_MS / 60_000} minutes without signing.</li>
        <li>Nothing is signed by itself: each run shows the exact payload first and is signed only when you press “Sign and run”.</li>
        <li>The dashboard runs under a strict Content-Security-Policy (no inline or foreign script), so injected markup cannot use the key.</li>
        <li>Every host checks the signature, your capability and its own labels again before it runs anything.</li>
      </ul>
    </details>
  );
}

/** Reads a key file (chosen or pasted), asks its passphrase, and unlocks it into this tab. */
function UnlockForm() {
  const api = useApi();
  const qc = useQueryClient();
  const { setSigner } = useSignerControl();
  const [fileName, setFileName] = useState<string | null>(null);
  const [fileText, setFileText] = useState<string | null>(null);
  const [pasted, setPasted] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  const source = fileText ?? (pasted.trim() === '' ? null : pasted);
  let parsed: KeyFile | null = null;
  let parseError: string | null = null;
  if (source !== null) {
    try {
      parsed = parseKeyFile(source, fileName?.replace(/\.(key|pem)$/, '') || 'imported');
    } catch (err) {
      parseError = (err as Error).message;
    }
  }

  const clearInputs = () => {
    setPassphrase('');
    setPasted('');
    setFileText(null);
    setFileName(null);
    if (fileInput.current) fileInput.current.value = '';
  };

  const onFile = async (file: File | undefined) => {
    setError(null);
    if (!file) {
      setFileText(null);
      setFileName(null);
      return;
    }
    if (file.size > 64 * 1024) {
      setError(`${file.name} is ${Math.round(file.size / 1024)} KiB: a key file is under 1 KiB`);
      return;
    }
    setFileName(file.name);
    setFileText(await file.text());
  };

  const unlock = async (e: FormEvent) => {
    e.preventDefault();
    if (!parsed || progress !== null) return;
    setError(null);
    setProgress(0);
    try {
      const key = await unlockKeyFile(parsed, passphrase, setProgress);
      let authority: KeyAuthority | null = null;
      try {
        authority = await qc.fetchQuery({ queryKey: authorityKey(key.did), queryFn: () => lookUpAuthority(api, key.did), staleTime: 0 });
      } catch {
        // Shown by the key card's own query, with a retry; the key works without it.
      }
      setSigner(createBrowserSigner(key, authority?.kind === 'capability' ? authority.listing.capability : null));
      clearInputs();
    } catch (err) {
      setError((err as Error).message);
      setPassphrase('');
    } finally {
      setProgress(null);
    }
  };

  const busy = progress !== null;
  return (
    <form className="card section key-form" onSubmit={(e) => void unlock(e)} data-testid="key-form">
      <h2>Unlock your operator key</h2>
      <p className="muted">
        The key file <code>gpufleet keys new</code> wrote (in <code>~/.config/gpufleet/keys/</code>). It is read by this page only.
      </p>
      <div className="field">
        <label htmlFor="key-file">Key file</label>
        <input
          id="key-file"
          ref={fileInput}
          type="file"
          accept=".key,.pem,.json,application/json,text/plain"
          onChange={(e) => void onFile(e.target.files?.[0])}
          disabled={busy}
          data-testid="key-file"
        />
      </div>
      <div className="field">
        <label htmlFor="key-text">
          or paste it <small>the whole file, JSON or PEM</small>
        </label>
        <textarea
          id="key-text"
          rows={4}
          spellCheck={false}
          autoComplete="off"
          value={pasted}
          onChange={(e) => setPasted(e.target.value)}
          disabled={busy || fileText !== null}
          data-testid="key-text"
        />
      </div>
      {parseError && (
        <p className="form-error" role="alert" data-testid="key-error">
          {parseError}
        </p>
      )}
      {parsed && (
        <p className="muted" data-testid="key-found">
          {fileName ? `${fileName}: ` : ''}key <strong>{parsed.name}</strong>
          {parsed.did ? (
            <>
              {' '}
              (<span className="mono">{parsed.did}</span>)
            </>
          ) : null}
          , {parsed.encrypted ? 'sealed with a passphrase' : 'not encrypted'}
        </p>
      )}
      <div className="field">
        <label htmlFor="key-passphrase">Passphrase</label>
        <input
          id="key-passphrase"
          type="password"
          autoComplete="off"
          value={passphrase}
          onChange={(e) => setPassphrase(e.target.value)}
          disabled={busy || (parsed !== null && !parsed.encrypted)}
          data-testid="key-passphrase"
        />
      </div>
      <div className="actions">
        <button type="submit" className="btn btn-primary" disabled={!parsed || busy || (parsed.encrypted && passphrase === '')} data-testid="key-unlock">
          {busy ? 'Unlocking…' : 'Unlock'}
        </button>
        {busy && (
          <span className="key-progress" role="status">
            <progress value={progress ?? 0} max={1} data-testid="key-progress" aria-label="Deriving the key from the passphrase" /> deriving the key from the
            passphrase…
          </span>
        )}
      </div>
      {error && (
        <p className="form-error" role="alert" data-testid="key-error">
          {error}
        </p>
      )}
    </form>
  );
}

/** Where the key's authority comes from: root, a registered capability, one imported from a file, or nothing yet. */
function Authority() {
  const api = useApi();
  const { signer, setCapability } = useSignerControl();
  const now = useNow();
  const [capError, setCapError] = useState<string | null>(null);
  const [capText, setCapText] = useState('');
  const did = signer?.did ?? '';
  const q = useQuery({ queryKey: authorityKey(did), queryFn: () => lookUpAuthority(api, did), enabled: did !== '' });
  if (!signer) return null;

  const applyCapability = (text: string) => {
    setCapError(null);
    try {
      setCapability(parseCapabilityText(text, signer.did));
      setCapText('');
    } catch (err) {
      setCapError((err as Error).message);
    }
  };
  const onCapFile = async (file: File | undefined) => {
    if (!file) return;
    if (file.size > 256 * 1024) return setCapError(`${file.name} is too large for a capability file`);
    applyCapability(await file.text());
  };

  const a = q.data;
  const registered = a?.kind === 'capability' ? a.listing.capability : null;
  return (
    <section className="section">
      <h3>Authority</h3>
      {q.isPending && <Loading what="Asking the control plane about this key" />}
      {q.error && <ErrorBox error={q.error} retry={() => void q.refetch()} />}
      {a?.kind === 'root' && (
        <p data-testid="key-authority" data-kind="root">
          This key is a <strong>fleet root</strong>: hosts accept its commands without a capability.
        </p>
      )}
      {signer.capability ? (
        <>
          <p data-testid="key-authority" data-kind="capability">
            Signs with {registered && registered.sig === signer.capability.sig ? 'the capability registered for it' : 'an imported capability'}:
          </p>
          <CapabilityView capability={signer.capability} now={now} />
        </>
      ) : a?.kind === 'capability' ? (
        <p data-testid="key-authority" data-kind="registered-unused">
          A capability is registered for this key, but the key signs without one.
        </p>
      ) : (
        a?.kind === 'none' && (
          <p className="form-error" data-testid="key-authority" data-kind="none">
            This key is not a fleet root and holds no active registered capability
            {a.inactive.length > 0 ? ` (${a.inactive.map((c) => `${c.state} until ${formatAbsolute(c.exp)}`).join('; ')})` : ''}: hosts will refuse its
            commands. Ask an admin for one (<code>gpufleet caps grant --to {signer.did} --can exec/run --on SELECTOR --out cap.json</code>) and import it below.
          </p>
        )
      )}
      {registered && registered.sig !== signer.capability?.sig && (
        <button type="button" className="btn btn-small" onClick={() => setCapability(registered)} data-testid="key-cap-registered">
          {signer.capability ? 'Use the registered capability instead' : 'Use the registered capability'}
        </button>
      )}
      {a?.kind !== 'root' && (
        <details className="key-cap-import">
          <summary>Import a capability file (JSON)</summary>
          <div className="field">
            <label htmlFor="cap-file">Capability file</label>
            <input id="cap-file" type="file" accept=".json,application/json" onChange={(e) => void onCapFile(e.target.files?.[0])} data-testid="cap-file" />
          </div>
          <div className="field">
            <label htmlFor="cap-text">or paste it</label>
            <textarea id="cap-text" rows={3} spellCheck={false} value={capText} onChange={(e) => setCapText(e.target.value)} data-testid="cap-text" />
          </div>
          <button type="button" className="btn btn-small" disabled={capText.trim() === ''} onClick={() => applyCapability(capText)} data-testid="cap-use">
            Use this capability
          </button>
          <p className="muted">
            The browser reads JSON only (the CLI's <code>--cap</code> also reads YAML). Hosts verify its signatures; this page checks that it is granted to this
            key.
          </p>
        </details>
      )}
      {capError && (
        <p className="form-error" role="alert" data-testid="cap-error">
          {capError}
        </p>
      )}
    </section>
  );
}

/** The unlocked key: its did, its authority, when it will be forgotten, and the button that forgets it now. */
function UnlockedKeyCard() {
  const { signer, forget, forgetsAt } = useSignerControl();
  if (!signer) return null;
  return (
    <section className="card section" data-testid="key-unlocked">
      <h2>
        Key <span className="mono">{signer.keyName}</span> is unlocked in this tab
      </h2>
      <dl className="kv">
        <dt>did</dt>
        <dd className="mono" data-testid="key-did">
          {signer.did}
        </dd>
        <dt>Forgotten at</dt>
        <dd data-testid="key-forgets-at">
          {forgetsAt ? `${formatAbsolute(forgetsAt)} unless it signs before (each signature gives it ${IDLE_FORGET_MS / 60_000} more minutes)` : '—'}
        </dd>
      </dl>
      <Authority />
      <div className="actions">
        <Link to="/runs/new" className="btn btn-primary" data-testid="key-new-run">
          New run
        </Link>
        <button type="button" className="btn btn-danger" onClick={forget} data-testid="key-forget">
          Forget key
        </button>
      </div>
    </section>
  );
}

/** /keys: unlock the operator's key in this tab to sign runs from the dashboard. */
export function SigningKeyPage() {
  const canSign = useCan('operator');
  const { signer } = useSignerControl();
  if (!canSign) return <Empty>Signing commands needs the operator role.</Empty>;
  return (
    <>
      <h1>Signing key</h1>
      <p className="muted">
        Runs are signed with your own operator key. Unlock it here to sign from this tab, or sign from a terminal with <code>gpufleet exec</code>.
      </p>
      {signer ? <UnlockedKeyCard /> : <UnlockForm />}
      <SafetyNote />
    </>
  );
}

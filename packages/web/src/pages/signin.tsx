import { useState, type FormEvent } from 'react';
import { useAuth } from '../lib/auth.js';
import { useTheme } from '../components/layout.js';

/** Sign-in with an API token; the token stays in this tab's sessionStorage only. */
export function SignInPage() {
  const { signIn } = useAuth();
  useTheme();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(token);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      <form className="card signin-card" onSubmit={submit}>
        <h1>gpufleet</h1>
        <p className="muted">
          Sign in with an API token (create one with <code>gpufleet api-tokens create</code>). It is kept for this browser tab only.
        </p>
        <label htmlFor="token">API token</label>
        <input id="token" type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} data-testid="signin-token" />
        {error && (
          <p className="form-error" role="alert" data-testid="signin-error">
            {error}
          </p>
        )}
        <button type="submit" className="btn btn-primary" disabled={busy || token.trim() === ''} data-testid="signin-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

import { useEffect, useState, type ReactNode } from 'react';
import { Link, useRouter } from '../lib/router.js';
import { useAuth, roleAllows } from '../lib/auth.js';
import { useLive } from '../lib/live.js';
import { useOverallStatus } from '../lib/sse.js';

type Theme = 'light' | 'dark';
const THEME_KEY = 'gpufleet.theme';

function initialTheme(): Theme {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** Light/dark theme on <html data-theme>, remembered in localStorage. */
export function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(initialTheme);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem(THEME_KEY, theme);
  }, [theme]);
  return [theme, () => setTheme((t) => (t === 'dark' ? 'light' : 'dark'))];
}

const NAV: Array<{ to: string; label: string; id: string; need?: 'admin' | 'operator' }> = [
  { to: '/', label: 'Overview', id: 'overview' },
  { to: '/nodes', label: 'Nodes', id: 'nodes' },
  { to: '/gpus', label: 'GPUs', id: 'gpus' },
  { to: '/jobs', label: 'Jobs', id: 'jobs' },
  { to: '/pools', label: 'Pools', id: 'pools' },
  { to: '/plays', label: 'Job center', id: 'plays' },
  { to: '/groups', label: 'Groups', id: 'groups' },
  { to: '/ssh-hosts', label: 'SSH hosts', id: 'ssh-hosts' },
  { to: '/rollouts', label: 'Rollouts', id: 'rollouts' },
  { to: '/alerts', label: 'Alerts', id: 'alerts' },
  { to: '/events', label: 'Events', id: 'events' },
  { to: '/runs', label: 'Runs', id: 'runs' },
  { to: '/keys', label: 'Signing key', id: 'keys', need: 'operator' },
  { to: '/tokens', label: 'Join tokens', id: 'tokens', need: 'admin' },
  { to: '/api-tokens', label: 'API tokens', id: 'api-tokens', need: 'admin' },
  { to: '/audit', label: 'Audit', id: 'audit', need: 'admin' },
];

function ConnStatus() {
  const { registry } = useLive();
  const status = useOverallStatus(registry);
  const label = status === 'live' ? 'live' : status === 'connecting' ? 'connecting' : 'reconnecting';
  return (
    <span
      className={`conn conn-${status}`}
      data-testid="conn-status"
      role="status"
      aria-live="polite"
      title={status === 'live' ? 'Updates arrive live' : 'The live connection is down; retrying'}
    >
      <span className="conn-dot" aria-hidden="true" />
      {label}
    </span>
  );
}

export function Layout({ children }: { children: ReactNode }) {
  const { path } = useRouter();
  const { session, signOut } = useAuth();
  const [theme, toggleTheme] = useTheme();
  const active = (to: string) => (to === '/' ? path === '/' : path === to || path.startsWith(`${to}/`));
  return (
    <div className="app">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand">
          gpufleet
        </Link>
        <nav className="nav" aria-label="Main">
          {NAV.filter((n) => !n.need || roleAllows(session?.role, n.need)).map((n) => (
            <Link
              key={n.id}
              to={n.to}
              data-testid={`nav-${n.id}`}
              className={active(n.to) ? 'active' : undefined}
              aria-current={active(n.to) ? 'page' : undefined}
            >
              {n.label}
            </Link>
          ))}
        </nav>
        <div className="topbar-right">
          <ConnStatus />
          <button
            type="button"
            className="btn btn-ghost"
            onClick={toggleTheme}
            aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
            data-testid="theme-toggle"
          >
            {theme === 'dark' ? '☀' : '☾'}
          </button>
          <span className="whoami" title={`role: ${session?.role}`}>
            {session?.name} <small>({session?.role})</small>
          </span>
          <button type="button" className="btn btn-ghost" onClick={signOut} data-testid="signout">
            Sign out
          </button>
        </div>
      </header>
      <main id="main" className="main" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}

import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { ApiClient, ApiError } from './api.js';

/** The role of the signed-in token; 'unknown' when the server has no whoami route. */
export type SessionRole = 'admin' | 'operator' | 'viewer' | 'unknown';

export interface Session {
  token: string;
  name: string;
  role: SessionRole;
}

interface AuthValue {
  session: Session | null;
  api: ApiClient | null;
  signIn(token: string): Promise<void>;
  signOut(): void;
}

const STORAGE_KEY = 'gpufleet.session';
const AuthContext = createContext<AuthValue | null>(null);

/** The session kept for this browser tab only (sessionStorage), or null. */
function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Partial<Session>;
    if (typeof s.token !== 'string' || typeof s.name !== 'string' || typeof s.role !== 'string') return null;
    return s as Session;
  } catch {
    return null;
  }
}

const RANK: Record<SessionRole, number> = { viewer: 0, operator: 1, admin: 2, unknown: 2 };

/**
 * Whether the session may see buttons needing `need`. A role the server did not tell ('unknown')
 * shows them: the server checks every call and its refusal is shown.
 */
export function roleAllows(role: SessionRole | undefined, need: 'viewer' | 'operator' | 'admin'): boolean {
  if (!role) return false;
  return RANK[role] >= RANK[need];
}

/** Asks the server who a token is; throws ApiError when it is refused. */
export async function whoami(token: string): Promise<{ name: string; role: SessionRole }> {
  const api = new ApiClient(token);
  try {
    const me = await api.get<{ name: string; role: SessionRole }>('/api/v1/whoami');
    return { name: me.name, role: me.role };
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    // An older server without whoami: prove the token works, role unknown.
    await api.get('/api/v1/fleet/summary');
    return { name: 'token', role: 'unknown' };
  }
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(loadSession);

  const signOut = useCallback(() => {
    sessionStorage.removeItem(STORAGE_KEY);
    setSession(null);
  }, []);

  const signIn = useCallback(async (token: string) => {
    const trimmed = token.trim();
    if (trimmed === '') throw new Error('paste an API token');
    const me = await whoami(trimmed);
    const s: Session = { token: trimmed, ...me };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(s));
    setSession(s);
  }, []);

  // A 401 on any call means the token was revoked or expired: back to sign-in.
  const api = useMemo(() => (session ? new ApiClient(session.token, signOut) : null), [session, signOut]);
  const value = useMemo(() => ({ session, api, signIn, signOut }), [session, api, signIn, signOut]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const v = useContext(AuthContext);
  if (!v) throw new Error('useAuth outside AuthProvider');
  return v;
}

/** The API client of the signed-in session (pages render only when signed in). */
export function useApi(): ApiClient {
  const { api } = useAuth();
  if (!api) throw new Error('not signed in');
  return api;
}

/** Whether the signed-in role may use actions needing `need`. */
export function useCan(need: 'viewer' | 'operator' | 'admin'): boolean {
  return roleAllows(useAuth().session?.role, need);
}

import type { ReactNode } from 'react';
import { render, type RenderResult } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { AuthProvider, useAuth, type Session } from '../lib/auth.js';
import { Router } from '../lib/router.js';
import { ConfirmProvider } from '../components/dialog.js';

/** The session key AuthProvider reads (lib/auth.tsx). */
const SESSION_KEY = 'gpufleet.session';

/**
 * Renders a page as the app does (query client, signed-in session, router, confirm dialog),
 * with no retries so a refused call shows at once.
 */
export function renderSignedIn(ui: ReactNode, session: Session): RenderResult & { queryClient: QueryClient } {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  const result = render(
    <QueryClientProvider client={queryClient}>
      <AuthProvider>
        <Router>
          <ConfirmProvider>
            <SignedInOnly>{ui}</SignedInOnly>
          </ConfirmProvider>
        </Router>
      </AuthProvider>
    </QueryClientProvider>,
  );
  return { ...result, queryClient };
}

/** Like the app's shell: signed out, the page gives way (here to a marker the test can find). */
function SignedInOnly({ children }: { children: ReactNode }) {
  const { session } = useAuth();
  return session ? children : <p data-testid="signed-out">signed out</p>;
}

/** What sessionStorage holds for the signed-in session, or null once signed out. */
export function storedSession(): string | null {
  return sessionStorage.getItem(SESSION_KEY);
}

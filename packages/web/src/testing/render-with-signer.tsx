import { useEffect, type ReactNode } from 'react';
import { render, type RenderResult } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { AuthProvider, type Session } from '../lib/auth.js';
import { Router } from '../lib/router.js';
import { LiveProvider } from '../lib/live.js';
import { SignerProvider, useSignerControl } from '../lib/signing/signer-context.js';
import type { RevocableSigner } from '../lib/signing/browser-signer.js';
import { ConfirmProvider } from '../components/dialog.js';

/** Installs the key as the Signing key page does once it is unlocked. */
function UnlockedKey({ signer }: { signer: RevocableSigner | null }) {
  const { setSigner } = useSignerControl();
  useEffect(() => setSigner(signer), [signer, setSigner]);
  return null;
}

/**
 * Renders a page inside the whole signed-in shell (query client, session, router, live stream,
 * signer, confirm dialog), with `signer` unlocked when given. `fetch` and `EventSource` must be
 * stubbed by the test (the live stream opens at once).
 */
export function renderWithSigner(ui: ReactNode, o: { session: Session; signer?: RevocableSigner | null }): RenderResult & { queryClient: QueryClient } {
  sessionStorage.setItem('gpufleet.session', JSON.stringify(o.session));
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  const result = render(
    <QueryClientProvider client={queryClient}>
      <AuthProvider>
        <Router>
          <LiveProvider>
            <SignerProvider>
              <UnlockedKey signer={o.signer ?? null} />
              <ConfirmProvider>{ui}</ConfirmProvider>
            </SignerProvider>
          </LiveProvider>
        </Router>
      </AuthProvider>
    </QueryClientProvider>,
  );
  return { ...result, queryClient };
}

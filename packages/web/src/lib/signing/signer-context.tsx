import { createContext, useContext, useMemo, useState, type ReactNode } from 'react';
import type { BrowserSigner } from './types.js';

interface SignerValue {
  signer: BrowserSigner | null;
  setSigner(signer: BrowserSigner | null): void;
}

const SignerContext = createContext<SignerValue | null>(null);

/**
 * Holds the operator's unlocked key for this tab only: in memory, never in any storage, so a
 * reload or a sign-out forgets it.
 */
export function SignerProvider({ children }: { children: ReactNode }) {
  const [signer, setSigner] = useState<BrowserSigner | null>(null);
  const value = useMemo(() => ({ signer, setSigner }), [signer]);
  return <SignerContext.Provider value={value}>{children}</SignerContext.Provider>;
}

function useSignerValue(): SignerValue {
  const v = useContext(SignerContext);
  if (!v) throw new Error('useSigner outside SignerProvider');
  return v;
}

/** The unlocked signing key, or null when the operator has not unlocked one in this tab. */
export function useSigner(): BrowserSigner | null {
  return useSignerValue().signer;
}

/** For the signing-key page: set or forget the key. */
export function useSignerControl(): SignerValue {
  return useSignerValue();
}

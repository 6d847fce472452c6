import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useAuth } from '../auth.js';
import type { Capability } from '@gpufleet/protocol';
import type { RevocableSigner } from './browser-signer.js';
import type { BrowserSigner } from './types.js';

/*
 * How the operator's key is kept safe in the dashboard:
 * - It lives only in this tab's memory, as a non-extractable WebCrypto CryptoKey: page code can
 *   ask it to sign but can never read it back. It is never written to localStorage,
 *   sessionStorage, IndexedDB or cookies, and never sent to the server (only signed commands are).
 * - It is forgotten on sign-out (this provider unmounts), on reload, when the page is left
 *   (pagehide, so the back/forward cache cannot bring it back), on "Forget key", and after
 *   IDLE_FORGET_MS without a signature. A forgotten signer refuses to sign even through a
 *   reference some component kept.
 * - The passphrase field is cleared once the key is unlocked (or refused).
 * - Nothing signs by itself: every signature follows an explicit click on a preview that shows
 *   the exact payload (see types.ts).
 * - The dashboard is served with a strict Content-Security-Policy (script-src 'self', no
 *   inline script, no eval; server/src/routes/web-routes.ts), so injected markup cannot run
 *   script to use the key.
 */

/** An unlocked key is forgotten after this long without signing: 15 minutes. */
export const IDLE_FORGET_MS = 15 * 60_000;

interface SignerControl {
  signer: BrowserSigner | null;
  /** Installs an unlocked key (forgetting any previous one), or forgets it with null. */
  setSigner(signer: RevocableSigner | null): void;
  /** Keeps the key, presenting `capability` from now on (null: as a fleet root). */
  setCapability(capability: Capability | null): void;
  /** Forgets the key now. */
  forget(): void;
  /** When the key will be forgotten unless it signs before (epoch ms), or null without a key. */
  forgetsAt: number | null;
}

const SignerContext = createContext<SignerControl | null>(null);

/**
 * Holds the operator's unlocked key for this tab only, in memory, never in any storage; see the
 * note above for when it is forgotten.
 */
export function SignerProvider({ children, idleMs = IDLE_FORGET_MS }: { children: ReactNode; idleMs?: number }) {
  const { session } = useAuth();
  const held = useRef<RevocableSigner | null>(null);
  const deadline = useRef<number | null>(null);
  const [signer, setSignerState] = useState<BrowserSigner | null>(null);
  const [forgetsAt, setForgetsAt] = useState<number | null>(null);

  const forget = useCallback(() => {
    held.current?.forget();
    held.current = null;
    deadline.current = null;
    setSignerState(null);
    setForgetsAt(null);
  }, []);

  const setSigner = useCallback(
    (next: RevocableSigner | null) => {
      forget();
      if (!next) return;
      held.current = next;
      const inner = next.signer;
      const touch = () => {
        deadline.current = Date.now() + idleMs;
        setForgetsAt(deadline.current);
      };
      // A background tab's timers run late: a signature asked for after the deadline is refused here too.
      const live = () => {
        if (held.current !== next || deadline.current === null || Date.now() > deadline.current) {
          if (held.current === next) forget();
          throw new Error('the signing key was forgotten in this tab: unlock it again on the Signing key page');
        }
      };
      const wrapped: BrowserSigner = {
        did: inner.did,
        keyName: inner.keyName,
        capability: inner.capability,
        draft: (req) => inner.draft(req),
        async sign(req) {
          live();
          const signed = await inner.sign(req);
          touch();
          return signed;
        },
        async signDraft(payload) {
          live();
          const signed = await inner.signDraft(payload);
          touch();
          return signed;
        },
        draftJob: (spec) => inner.draftJob(spec),
        async signJob(payload) {
          live();
          const signed = await inner.signJob(payload);
          touch();
          return signed;
        },
      };
      touch();
      setSignerState(wrapped);
    },
    [forget, idleMs],
  );

  const setCapability = useCallback(
    (capability: Capability | null) => {
      if (!held.current?.withCapability) throw new Error('no key is unlocked in this tab');
      setSigner(held.current.withCapability(capability));
    },
    [setSigner],
  );

  useEffect(() => {
    if (forgetsAt === null) return;
    const t = setTimeout(forget, Math.max(0, forgetsAt - Date.now()));
    return () => clearTimeout(t);
  }, [forgetsAt, forget]);

  // Another token signing in (or out) must not find the last one's key.
  const token = session?.token ?? null;
  useEffect(() => forget, [token, forget]);

  useEffect(() => {
    window.addEventListener('pagehide', forget);
    return () => window.removeEventListener('pagehide', forget);
  }, [forget]);

  const value = useMemo(() => ({ signer, setSigner, setCapability, forget, forgetsAt }), [signer, setSigner, setCapability, forget, forgetsAt]);
  return <SignerContext.Provider value={value}>{children}</SignerContext.Provider>;
}

function useSignerValue(): SignerControl {
  const v = useContext(SignerContext);
  if (!v) throw new Error('useSigner outside SignerProvider');
  return v;
}

/** The unlocked signing key, or null when the operator has not unlocked one in this tab. */
export function useSigner(): BrowserSigner | null {
  return useSignerValue().signer;
}

/** For the signing-key page: set or forget the key, and when it will be forgotten. */
export function useSignerControl(): SignerControl {
  return useSignerValue();
}

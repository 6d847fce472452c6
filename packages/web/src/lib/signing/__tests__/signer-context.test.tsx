// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, render } from '@testing-library/react';
import type { CommandPayload, JobPayload, JobSpec, SignedCommand, SignedJob } from '@gpufleet/protocol';
import { AuthProvider, useAuth } from '../../auth.js';
import type { RevocableSigner } from '../browser-signer.js';
import { IDLE_FORGET_MS, SignerProvider, useSignerControl } from '../signer-context.js';
import type { BrowserSigner } from '../types.js';

/** A signer double: records whether its key was forgotten. */
function fakeSigner(): RevocableSigner & { forgotten: boolean } {
  const payload = { invoker: 'did:key:zFake' } as CommandPayload;
  const out = {
    forgotten: false,
    signer: {
      did: 'did:key:zFake',
      keyName: 'fake',
      capability: null,
      draft: () => payload,
      signDraft: async (p: CommandPayload): Promise<SignedCommand> => ({ payload: p, sig: 'sig' }),
      sign: async (): Promise<SignedCommand> => ({ payload, sig: 'sig' }),
      draftJob: () => ({ invoker: 'did:key:zFake' }) as JobPayload,
      signJob: async (p: JobPayload): Promise<SignedJob> => ({ payload: p, sig: 'sig' }),
    } satisfies BrowserSigner,
    forget() {
      out.forgotten = true;
    },
  };
  return out;
}

let control: ReturnType<typeof useSignerControl> | null = null;
let auth: ReturnType<typeof useAuth> | null = null;
function Probe() {
  control = useSignerControl();
  auth = useAuth();
  return <span data-testid="did">{control.signer?.did ?? 'none'}</span>;
}

function renderProvider() {
  sessionStorage.setItem('gpufleet.session', JSON.stringify({ token: 'gft_test', name: 'ops', role: 'operator' }));
  return render(
    <AuthProvider>
      <SignerProvider>
        <Probe />
      </SignerProvider>
    </AuthProvider>,
  );
}

beforeEach(() => {
  vi.useFakeTimers();
  control = null;
  auth = null;
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
  sessionStorage.clear();
  localStorage.clear();
});

describe('SignerProvider', () => {
  it('forgets the key after 15 minutes without signing; each signature gives it 15 more', async () => {
    const r = renderProvider();
    const fake = fakeSigner();
    act(() => control!.setSigner(fake));
    expect(r.getByTestId('did').textContent).toBe('did:key:zFake');
    await act(async () => vi.advanceTimersByTime(IDLE_FORGET_MS - 60_000));
    await act(async () => void (await control!.signer!.sign({ command: { kind: 'argv', argv: ['true'] }, target: '*', timeoutMs: 1000 })));
    await act(async () => vi.advanceTimersByTime(IDLE_FORGET_MS - 60_000));
    expect(r.getByTestId('did').textContent).toBe('did:key:zFake');
    expect(fake.forgotten).toBe(false);
    await act(async () => vi.advanceTimersByTime(60_001));
    expect(r.getByTestId('did').textContent).toBe('none');
    expect(fake.forgotten).toBe(true);
  });

  it('a signer reference kept past "Forget key" refuses to sign', async () => {
    renderProvider();
    const fake = fakeSigner();
    act(() => control!.setSigner(fake));
    const kept = control!.signer!;
    act(() => control!.forget());
    expect(fake.forgotten).toBe(true);
    expect(control!.signer).toBeNull();
    await expect(kept.sign({ command: { kind: 'argv', argv: ['true'] }, target: '*', timeoutMs: 1000 })).rejects.toThrow(/forgotten/);
    await expect(kept.signDraft(kept.draft({ command: { kind: 'argv', argv: ['true'] }, target: '*', timeoutMs: 1000 }))).rejects.toThrow(/forgotten/);
    await expect(kept.signJob(kept.draftJob({ name: 'llama' } as JobSpec))).rejects.toThrow(/forgotten/);
  });

  it('a job signature counts as use: it gives the key 15 more minutes', async () => {
    const r = renderProvider();
    act(() => control!.setSigner(fakeSigner()));
    await act(async () => vi.advanceTimersByTime(IDLE_FORGET_MS - 60_000));
    const signer = control!.signer!;
    await act(async () => void (await signer.signJob(signer.draftJob({ name: 'llama' } as JobSpec))));
    await act(async () => vi.advanceTimersByTime(IDLE_FORGET_MS - 60_000));
    expect(r.getByTestId('did').textContent).toBe('did:key:zFake');
    await act(async () => vi.advanceTimersByTime(60_001));
    expect(r.getByTestId('did').textContent).toBe('none');
  });

  it('a signature asked for after the deadline is refused even when the timer has not fired yet', async () => {
    renderProvider();
    const fake = fakeSigner();
    act(() => control!.setSigner(fake));
    const kept = control!.signer!;
    // The clock moves on without timers running (a sleeping laptop, a throttled background tab).
    vi.setSystemTime(Date.now() + IDLE_FORGET_MS + 1);
    await expect(act(() => kept.sign({ command: { kind: 'argv', argv: ['true'] }, target: '*', timeoutMs: 1000 }))).rejects.toThrow(/forgotten/);
    expect(fake.forgotten).toBe(true);
  });

  it('forgets on sign-out and when the page is left', () => {
    const r = renderProvider();
    const first = fakeSigner();
    act(() => control!.setSigner(first));
    act(() => void window.dispatchEvent(new Event('pagehide')));
    expect(first.forgotten).toBe(true);
    expect(r.getByTestId('did').textContent).toBe('none');
    const second = fakeSigner();
    act(() => control!.setSigner(second));
    act(() => auth!.signOut());
    expect(second.forgotten).toBe(true);
  });

  it('installing a new key forgets the previous one, and nothing is written to web storage', () => {
    renderProvider();
    const before = { session: sessionStorage.length, local: localStorage.length };
    const a = fakeSigner();
    const b = fakeSigner();
    act(() => control!.setSigner(a));
    act(() => control!.setSigner(b));
    expect(a.forgotten).toBe(true);
    expect(b.forgotten).toBe(false);
    expect({ session: sessionStorage.length, local: localStorage.length }).toEqual(before);
  });
});

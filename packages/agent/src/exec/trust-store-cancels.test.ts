import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateEd25519, type CancelPayload } from '@gpufleet/protocol';
import { FileStateStore } from '../runtime/file-state.js';
import { isTrustRecord, MemoryStateStore } from '../runtime/state.js';
import { TrustStore } from './trust-store.js';

const T0 = Date.UTC(2025, 0, 1);
const root = generateEd25519();
const operator = generateEd25519();
const stranger = generateEd25519();
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function clockAt(t: number) {
  const clock = { t, now: () => clock.t };
  return clock;
}

const command = { runId: 'run-cancel-1', nonce: 'nonce-cancel-1-abcdefgh', invoker: operator.did };
const cancel = (over: Partial<CancelPayload> = {}): CancelPayload => ({
  v: 1,
  kind: 'cancel',
  runId: command.runId,
  nonce: command.nonce,
  iss: operator.did,
  at: T0,
  until: T0 + 120_000,
  ...over,
});

describe('TrustStore: signed cancels', () => {
  it('keeps a cancel durably until its end, and applies it only to the command it names, by its invoker or a root', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpufleet-cancels-'));
    dirs.push(dir);
    const clock = clockAt(T0);
    const trust = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did], clock, skewMs: 1000 });
    expect(trust.recordCancel(cancel({ iss: stranger.did }))).toBe(true);
    expect(trust.cancelFor(command)).toBeUndefined(); // a stranger's cancel is kept but never applies
    expect(trust.recordCancel(cancel())).toBe(true);
    expect(trust.recordCancel(cancel())).toBe(false); // known already
    expect(trust.cancelFor(command)?.iss).toBe(operator.did);
    expect(trust.cancelFor({ ...command, nonce: 'another-nonce-abcdefgh' })).toBeUndefined();

    const again = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did], clock, skewMs: 1000 });
    expect(again.cancelFor(command)?.iss).toBe(operator.did);
    clock.t = T0 + 120_000 + 1001;
    const later = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did], clock, skewMs: 1000 });
    expect(later.cancelFor(command)).toBeUndefined();
    expect(later.cancelCount).toBe(0);
    expect(later.recordCancel(cancel())).toBe(false); // lapsed: not worth keeping
  });

  it("a run kept only to its command's deadline is forgotten then without moving the replay horizon", () => {
    const clock = clockAt(T0);
    const trust = new TrustStore({ state: new MemoryStateStore(), joinRoots: [root.did], clock, skewMs: 0 });
    trust.recordStart({ runId: 'run-short-1', nonce: 'nonce-short-1-abcdefgh', sig: 's', issuedAt: T0, deadline: T0 + 90_000 });
    clock.t = T0 + 90_001;
    trust.recordStart({ runId: 'run-next-1', nonce: 'nonce-next-1-abcdefgh', sig: 's', issuedAt: clock.t, deadline: clock.t + 90_000 });
    expect(trust.seenNonce('nonce-short-1-abcdefgh')).toBe(false);
    // A long command issued before the short one and still within its own deadline can still be accepted.
    expect(trust.replayHorizon).toBe(0);
  });

  it("when full, drops the oldest cancel not signed by a root: a flood of strangers cannot push out a root's", () => {
    const trust = new TrustStore({ state: new MemoryStateStore(), joinRoots: [root.did], clock: clockAt(T0), maxCancels: 3 });
    trust.recordCancel(cancel({ iss: root.did }));
    for (let i = 0; i < 10; i++) trust.recordCancel(cancel({ iss: stranger.did, runId: `run-flood-${i}` }));
    expect(trust.cancelCount).toBe(3);
    expect(trust.cancelFor(command)?.iss).toBe(root.did);
  });

  it('recognizes only well-formed cancel records', () => {
    expect(isTrustRecord({ t: 'cancel', cancel: cancel() })).toBe(true);
    for (const bad of [{ t: 'cancel' }, { t: 'cancel', cancel: { ...cancel(), runId: 7 } }, { t: 'cancel', cancel: { ...cancel(), extra: 1 } }])
      expect(isTrustRecord(bad)).toBe(false);
  });
});

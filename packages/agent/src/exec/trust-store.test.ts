import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateEd25519, signRevocation, signRootsUpdate, type Ed25519KeyPair, type Revocation, type RootsUpdate } from '@gpufleet/protocol';
import { FileStateStore, TRUST_FILE } from '../runtime/file-state.js';
import { isTrustRecord, MemoryStateStore, type StoredRunResult } from '../runtime/state.js';
import { TrustStore } from './trust-store.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-trust-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const T0 = Date.UTC(2025, 0, 1);
const DAY = 86_400_000;
const root = generateEd25519();
const root2 = generateEd25519();
const stranger = generateEd25519();
const operator = generateEd25519();
const ok: StoredRunResult = { exitCode: 0, signal: null, timedOut: false, canceled: false, durationMs: 5, outputBytes: 3, truncated: false };

function rootsUpdate(version: number, roots: string[], signer: Ed25519KeyPair = root): RootsUpdate {
  return signRootsUpdate({ v: 1, version, roots, iss: signer.did, at: T0 }, signer.privateKeyPem);
}

function revokeDid(did: string, signer: Ed25519KeyPair = root): Revocation {
  return signRevocation({ v: 1, target: { did }, iss: signer.did, at: T0, reason: 'test' }, signer.privateKeyPem);
}

function clockAt(t: number) {
  const clock = { t, now: () => clock.t };
  return clock;
}

function lines(dir: string): string[] {
  return readFileSync(join(dir, TRUST_FILE), 'utf8').split('\n').filter(Boolean);
}

describe('TrustStore', () => {
  it('starts from the join roots and takes a verified update with a higher version, also after a restart', () => {
    const dir = dataDir();
    const trust = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did] });
    expect(trust.roots).toEqual([root.did]);
    expect(trust.rootsVersion).toBe(0);
    const applied = trust.applyTrust({ roots: [rootsUpdate(1, [root.did, root2.did])], revocations: [] });
    expect(applied).toMatchObject({ rootsChanged: true, rootsVersion: 1, ignored: [] });
    expect(trust.roots).toEqual([root.did, root2.did]);
    const again = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did] });
    expect(again.roots).toEqual([root.did, root2.did]);
    expect(again.rootsVersion).toBe(1);
  });

  it('ignores root updates that are not signed by a current root, tampered, or not newer', () => {
    const trust = new TrustStore({ state: new MemoryStateStore(), joinRoots: [root.did] });
    const bySomeone = rootsUpdate(1, [stranger.did], stranger);
    const tampered = { ...rootsUpdate(2, [root.did]), roots: [stranger.did] };
    const applied = trust.applyTrust({ roots: [bySomeone, tampered], revocations: [] });
    expect(applied.rootsChanged).toBe(false);
    expect(applied.ignored).toHaveLength(2);
    expect(trust.roots).toEqual([root.did]);
    // A chain: v1 by root adds root2, v2 by root2 drops root; then an old v1 replayed changes nothing.
    const v1 = rootsUpdate(1, [root.did, root2.did]);
    const v2 = rootsUpdate(2, [root2.did], root2);
    expect(trust.applyTrust({ roots: [v2, v1], revocations: [] }).rootsVersion).toBe(2);
    expect(trust.roots).toEqual([root2.did]);
    expect(trust.applyTrust({ roots: [v1], revocations: [] }).rootsChanged).toBe(false);
    expect(trust.roots).toEqual([root2.did]);
  });

  it('keeps only verified revocations, once each, across restarts', () => {
    const dir = dataDir();
    const trust = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did] });
    const good = revokeDid(operator.did);
    const forged = revokeDid(root2.did, stranger);
    const applied = trust.applyTrust({ roots: [], revocations: [good, forged] });
    expect(applied.revocationsAdded).toBe(1);
    expect(applied.ignored[0]).toMatch(/not a fleet root/);
    expect(trust.isRevoked('', operator.did)).toBe(true);
    expect(trust.isRevoked('', root2.did)).toBe(false);
    const before = lines(dir).length;
    // The server resends everything each session: nothing new is written.
    expect(trust.applyTrust({ roots: [], revocations: [good] }).revocationsAdded).toBe(0);
    expect(lines(dir).length).toBe(before);
    const again = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did] });
    expect(again.isRevoked('', operator.did)).toBe(true);
    expect(again.isRevoked('', stranger.did)).toBe(false);
  });

  it('revokes capabilities by id too', () => {
    const trust = new TrustStore({ state: new MemoryStateStore(), joinRoots: [root.did] });
    const capId = 'a'.repeat(64);
    const rev = signRevocation({ v: 1, target: { capability: capId }, iss: root.did, at: T0, reason: 'leaked' }, root.privateKeyPem);
    trust.applyTrust({ roots: [], revocations: [rev] });
    expect(trust.isRevoked(capId, operator.did)).toBe(true);
    expect(trust.isRevoked('b'.repeat(64), operator.did)).toBe(false);
    expect(trust.isRevoked('', operator.did)).toBe(false);
  });

  it('records a run before it starts and its outcome after, and remembers both after a restart', () => {
    const dir = dataDir();
    const clock = clockAt(T0);
    const trust = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did], clock });
    trust.recordStart({ runId: 'run-0001', nonce: 'nonce-0001-abcdefgh', sig: 'sig1', issuedAt: T0 });
    trust.recordStart({ runId: 'run-0002', nonce: 'nonce-0002-abcdefgh', sig: 'sig2', issuedAt: T0 });
    trust.recordOutcome('run-0001', { kind: 'result', result: ok });
    const again = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did], clock });
    expect(again.seenNonce('nonce-0001-abcdefgh')).toBe(true);
    expect(again.seenNonce('nonce-0002-abcdefgh')).toBe(true);
    expect(again.seenNonce('nonce-0003-abcdefgh')).toBe(false);
    expect(again.run('run-0001')?.outcome).toEqual({ kind: 'result', result: ok });
    expect(again.unfinishedRuns().map((r) => r.runId)).toEqual(['run-0002']);
  });

  it('forgets the oldest run past the bound and refuses by horizon what it can no longer tell apart', () => {
    const dir = dataDir();
    const clock = clockAt(T0);
    const trust = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did], clock, maxRuns: 3 });
    for (let i = 1; i <= 4; i++) trust.recordStart({ runId: `run-000${i}`, nonce: `nonce-000${i}-abcdefgh`, sig: `s${i}`, issuedAt: T0 + i * 1000 });
    expect(trust.runCount).toBe(3);
    expect(trust.run('run-0001')).toBeUndefined();
    expect(trust.seenNonce('nonce-0001-abcdefgh')).toBe(false);
    expect(trust.replayHorizon).toBe(T0 + 1000);
    const again = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did], clock, maxRuns: 3 });
    expect(again.replayHorizon).toBe(T0 + 1000);
    expect(again.runCount).toBe(3);
  });

  it('drops entries older than the replay window and moves the horizon over them', () => {
    const clock = clockAt(T0);
    const trust = new TrustStore({ state: new MemoryStateStore(), joinRoots: [root.did], clock, replayWindowMs: DAY, skewMs: 0 });
    trust.recordStart({ runId: 'run-old1', nonce: 'nonce-old1-abcdefgh', sig: 's', issuedAt: T0 });
    clock.t = T0 + DAY + 1;
    trust.recordStart({ runId: 'run-new1', nonce: 'nonce-new1-abcdefgh', sig: 's', issuedAt: clock.t });
    expect(trust.seenNonce('nonce-old1-abcdefgh')).toBe(false);
    expect(trust.seenNonce('nonce-new1-abcdefgh')).toBe(true);
    expect(trust.replayHorizon).toBe(T0);
  });

  it('compacts its log once dead records pile up', () => {
    const dir = dataDir();
    const trust = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did], maxRuns: 10, clock: clockAt(T0) });
    for (let i = 0; i < 1500; i++) {
      const runId = `run-${String(i).padStart(5, '0')}`;
      trust.recordStart({ runId, nonce: `nonce-${runId}-xxxxxxxx`, sig: 's', issuedAt: T0 + i });
      trust.recordOutcome(runId, { kind: 'refused', reason: 'unsupported', message: 'no' });
    }
    // 10 live runs with outcomes and a horizon; without compaction there would be over 3,000 lines.
    expect(lines(dir).length).toBeLessThan(2 * 21 + 1024 + 10);
    const again = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did], maxRuns: 10, clock: clockAt(T0) });
    expect(again.runCount).toBe(10);
    expect(again.run('run-01499')?.outcome).toMatchObject({ kind: 'refused' });
    expect(again.replayHorizon).toBe(T0 + 1489);
  });

  it('skips damaged lines in the log and cleans the file so later appends are safe', () => {
    const dir = dataDir();
    const trust = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did], clock: clockAt(T0) });
    trust.recordStart({ runId: 'run-0001', nonce: 'nonce-0001-abcdefgh', sig: 's', issuedAt: T0 });
    appendFileSync(join(dir, TRUST_FILE), '{"t":"run","runId":42}\nnot json\n{"t":"outcome","runId":"run-0001","outc');
    const store = new FileStateStore(dir);
    const again = new TrustStore({ state: store, joinRoots: [root.did], clock: clockAt(T0) });
    expect(store.damagedTrustLines).toBe(3);
    expect(again.seenNonce('nonce-0001-abcdefgh')).toBe(true);
    again.recordOutcome('run-0001', { kind: 'result', result: ok });
    const third = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did], clock: clockAt(T0) });
    expect(third.run('run-0001')?.outcome).toEqual({ kind: 'result', result: ok });
  });

  it('recognizes only well-formed trust records', () => {
    const garbage: unknown[] = [
      null,
      42,
      'run',
      [],
      {},
      { t: 'nope' },
      { t: 'roots', version: -1, roots: [] },
      { t: 'roots', version: 1, roots: [7] },
      { t: 'revocation', revocation: { v: 1 } },
      { t: 'run', runId: 'r', nonce: 'n', sig: 's', issuedAt: -5, expiresAt: 0, at: 0 },
      { t: 'outcome', runId: 'r', outcome: { kind: 'result', result: { exitCode: 'zero' } } },
      { t: 'outcome', runId: 'r', outcome: { kind: 'refused', reason: 'because', message: 'x' } },
      { t: 'horizon', issuedAt: 1.5 },
    ];
    for (const g of garbage) expect(isTrustRecord(g)).toBe(false);
    expect(isTrustRecord({ t: 'outcome', runId: 'r', outcome: { kind: 'refused', reason: 'revoked', message: 'x' } })).toBe(true);
    expect(isTrustRecord({ t: 'revocation', revocation: revokeDid(operator.did) })).toBe(true);
  });
});

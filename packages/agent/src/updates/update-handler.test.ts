import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  FleetError,
  generateEd25519,
  signCapability,
  signRollout,
  UpdateStateData,
  vouchesForPresent,
  type Ability,
  type Ed25519KeyPair,
  type ReleaseRef,
  type RolloutPayload,
  type UpdateFrame,
} from '@gpufleet/protocol';
import { silentLogger } from '../runtime/logger.js';
import type { InstallOutcome, ReleaseInstaller } from './release-installer.js';
import { ReleaseVerifier, serverSource, type VerifiedRelease } from './release-verifier.js';
import { UpdateHandler, type ReleaseFetcher } from './update-handler.js';

/**
 * The update handler's order of checks (issue 14): the signed rollout, TUF, the signed hash,
 * and only then the installer; every refusal leaves the running version alone.
 */

const NOW = Date.now();
const DAY = 86_400_000;
const SHA = 'c'.repeat(64);
const root = generateEd25519();
const alice = generateEd25519();
const mallory = generateEd25519();
const HOST = { pool: 'inference' };
let n = 0;

function cap(to: Ed25519KeyPair, can: Ability[] = ['release/rollout']) {
  return signCapability(
    { v: 1, iss: root.did, aud: to.did, can, on: 'pool=inference', nbf: NOW - DAY, exp: NOW + DAY, nonce: `cap-nonce-${++n}`, prf: [] },
    root.privateKeyPem,
  );
}

function rollout(over: Partial<RolloutPayload> = {}, signer: Ed25519KeyPair = root) {
  return signRollout(
    {
      v: 1,
      release: { kind: 'agent', name: 'gpufleet-agent', version: '0.3.0' },
      target: { path: 'agent/gpufleet-agent-0.3.0.tgz', sha256: SHA },
      selector: 'pool=inference',
      plan: { canary: 0, waves: [100], healthyForMs: 0, maxFailures: 0 },
      issuedAt: NOW,
      nonce: `rollout-nonce-${++n}-0123456789`,
      invoker: signer.did,
      capability: null,
      ...over,
    },
    signer.privateKeyPem,
  );
}

const apply = (r: ReturnType<typeof rollout>, rolloutId = 'rollout-0001'): UpdateFrame['body'] => ({ op: 'apply', rolloutId, rollout: r });

/** An installer that records what it was given; `gate` holds apply open until released. */
class FakeInstaller implements ReleaseInstaller {
  readonly kind = 'agent' as const;
  applied: VerifiedRelease[] = [];
  rollbacks: string[] = [];
  gate: Promise<void> | null = null;
  fail: Error | null = null;
  constructor(public running: string | null = '0.2.0') {}
  runningVersion(): string | null {
    return this.running;
  }
  async apply(release: VerifiedRelease, progress: (s: 'installing' | 'restarting', m: string) => void): Promise<InstallOutcome> {
    this.applied.push(release);
    progress('installing', 'unpacking');
    if (this.gate) await this.gate;
    if (this.fail) throw this.fail;
    return { state: 'restarting', fromVersion: this.running, runningVersion: this.running, rolledBack: false, message: 'restarting' };
  }
  async rollback(name: string, reason: string): Promise<InstallOutcome> {
    this.rollbacks.push(`${name}: ${reason}`);
    return { state: 'restarting', fromVersion: this.running, runningVersion: this.running, rolledBack: false, message: 'going back' };
  }
}

const verified = (ref: ReleaseRef, sha = SHA): VerifiedRelease => ({
  kind: ref.kind,
  name: ref.name,
  version: ref.version,
  targetPath: `agent/gpufleet-agent-${ref.version}.tgz`,
  sha256: sha,
  length: 3,
  file: '/nonexistent',
  rootVersion: 1,
});

let reports: UpdateStateData[];
let fetched: ReleaseRef[];
let dir: string;

beforeEach(() => {
  reports = [];
  fetched = [];
  dir = mkdtempSync(join(tmpdir(), 'update-handler-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function handler(o: { installer?: ReleaseInstaller | null; fetcher?: ReleaseFetcher | null; enabled?: boolean; owed?: boolean; failed?: string } = {}) {
  const installer = o.installer === undefined ? new FakeInstaller() : o.installer;
  const fetcher: ReleaseFetcher | null =
    o.fetcher === undefined
      ? {
          verify: async (ref) => {
            fetched.push(ref);
            return verified(ref);
          },
        }
      : o.fetcher;
  return new UpdateHandler({
    trust: {
      roots: [root.did],
      skewMs: 60_000,
      isRevoked: () => false,
      labelView: (base) => ({ labels: base, vouches: vouchesForPresent(base) }),
    },
    hostLabels: () => HOST,
    fetcher: () => fetcher,
    installers: installer ? { agent: installer } : {},
    ...(o.enabled === undefined ? {} : { enabled: o.enabled }),
    selfCheckOwed: () => o.owed ?? false,
    failedBefore: (_kind, id) => (id === o.failed ? { message: 'the new agent 0.3.0 exited with code 1 before its self-check' } : null),
    enqueue: (e, critical) => {
      expect(e.kind).toBe('update-state');
      expect(critical).toBe(true);
      reports.push(UpdateStateData.parse(e.data));
    },
    clock: { now: () => Date.now() },
    logger: silentLogger,
  });
}

const states = () => reports.map((r) => r.state);

describe('update handler', () => {
  it('applies a rollout signed by a root or a holder of release/rollout: verifying, installing, then the installer’s outcome', async () => {
    const installer = new FakeInstaller();
    const h = handler({ installer });
    await h.onFrame(apply(rollout()));
    expect(states()).toEqual(['verifying', 'installing', 'restarting']);
    expect(reports.at(-1)).toMatchObject({
      rolloutId: 'rollout-0001',
      kind: 'agent',
      name: 'gpufleet-agent',
      version: '0.3.0',
      fromVersion: '0.2.0',
      reason: null,
    });
    expect(installer.applied).toHaveLength(1);
    expect(installer.applied[0]).toMatchObject({ sha256: SHA, rolloutId: 'rollout-0001' });
    reports = [];
    await h.onFrame(apply(rollout({ capability: cap(alice) }, alice), 'rollout-0002'));
    expect(states()).toEqual(['verifying', 'installing', 'restarting']);
  });

  it('refuses a bad signature, a stranger, a capability for another ability and a host outside the selector, touching nothing', async () => {
    const installer = new FakeInstaller();
    const h = handler({ installer });
    const good = rollout();
    const tampered = { ...good, payload: { ...good.payload, target: { ...good.payload.target, sha256: 'd'.repeat(64) } } };
    const cases: Array<[ReturnType<typeof rollout>, string]> = [
      [tampered, 'bad_signature'],
      [rollout({}, mallory), 'unknown_issuer'],
      [rollout({ capability: cap(alice, ['workload/run']) }, alice), 'ability_not_granted'],
      [rollout({ selector: 'pool=training' }), 'selector_mismatch'],
      [rollout({ issuedAt: NOW + 3_600_000 }), 'not_yet_valid'],
      [{ payload: { ...good.payload, nonce: 'short' }, sig: good.sig } as ReturnType<typeof rollout>, 'malformed'],
    ];
    for (const [r, reason] of cases) {
      reports = [];
      await h.onFrame(apply(r));
      expect(reports, reason).toHaveLength(1);
      expect(reports[0], reason).toMatchObject({ state: 'refused', reason, fromVersion: '0.2.0', runningVersion: '0.2.0', rolledBack: false });
    }
    expect(fetched).toEqual([]);
    expect(installer.applied).toEqual([]);
  });

  it('refuses a target whose TUF-verified hash is not the one signed in the rollout', async () => {
    const installer = new FakeInstaller();
    const h = handler({ installer, fetcher: { verify: async (ref) => verified(ref, 'e'.repeat(64)) } });
    await h.onFrame(apply(rollout()));
    expect(states()).toEqual(['verifying', 'refused']);
    expect(reports[1]).toMatchObject({
      reason: 'release_refused',
      message: expect.stringMatching(/signed in the repository with sha256 eeeeeeeeeeee…, but the rollout was signed for cccccccccccc…/),
    });
    expect(installer.applied).toEqual([]);
  });

  it('refuses what TUF refuses, saying why: a real verifier with no trusted root, and a refusal from tuf-js', async () => {
    const installer = new FakeInstaller();
    const real = new ReleaseVerifier(join(dir, 'releases'), serverSource('http://127.0.0.1:9', null));
    await handler({ installer, fetcher: real }).onFrame(apply(rollout()));
    expect(reports.at(-1)).toMatchObject({ state: 'refused', reason: 'release_refused', message: expect.stringMatching(/trusts no release root yet/) });
    reports = [];
    const expired = { verify: async () => Promise.reject(new FleetError('failed_precondition', 'release refused: timestamp.json is expired')) };
    await handler({ installer, fetcher: expired }).onFrame(apply(rollout()));
    expect(reports.at(-1)).toMatchObject({ state: 'refused', reason: 'release_refused', message: 'release refused: timestamp.json is expired' });
    reports = [];
    await handler({ installer, fetcher: null }).onFrame(apply(rollout()));
    expect(reports.at(-1)).toMatchObject({ state: 'refused', message: expect.stringMatching(/not connected/) });
    expect(installer.applied).toEqual([]);
  });

  it('says healthy again, without fetching, when the rollout’s version runs already', async () => {
    const h = handler({ installer: new FakeInstaller('0.3.0') });
    await h.onFrame(apply(rollout()));
    await h.onFrame(apply(rollout()));
    expect(states()).toEqual(['healthy', 'healthy']);
    expect(reports[0]).toMatchObject({ fromVersion: '0.3.0', runningVersion: '0.3.0', message: 'agent@0.3.0 runs here already' });
    expect(fetched).toEqual([]);
    // Just switched to and still in its self-check: the self-check reports, not the repeated frame.
    await handler({ installer: new FakeInstaller('0.3.0'), owed: true }).onFrame(apply(rollout()));
    expect(states()).toEqual(['healthy', 'healthy']);
  });

  it('answers a rollout whose build failed here before with that failure, installing nothing', async () => {
    const installer = new FakeInstaller('0.2.0');
    await handler({ installer, failed: 'rollout-0001' }).onFrame(apply(rollout()));
    expect(reports).toMatchObject([{ state: 'failed', rolledBack: true, runningVersion: '0.2.0', message: /exited with code 1 before its self-check/ }]);
    expect(installer.applied).toEqual([]);
    expect(fetched).toEqual([]);
  });

  it('takes one update at a time per release: another rollout is refused, a repeated frame ignored', async () => {
    const installer = new FakeInstaller();
    let open!: () => void;
    installer.gate = new Promise((r) => (open = r));
    const h = handler({ installer });
    const first = h.onFrame(apply(rollout(), 'rollout-first'));
    await new Promise((r) => setTimeout(r, 10));
    expect(h.inProgress.get('gpufleet-agent')).toBe('rollout-first');
    await h.onFrame(apply(rollout(), 'rollout-first'));
    await h.onFrame(apply(rollout(), 'rollout-other'));
    await h.onFrame({ op: 'rollback', rolloutId: 'rollout-other', kind: 'agent', name: 'gpufleet-agent', reason: 'x' });
    open();
    await first;
    expect(reports.filter((r) => r.rolloutId === 'rollout-first').map((r) => r.state)).toEqual(['verifying', 'installing', 'restarting']);
    expect(reports.filter((r) => r.rolloutId === 'rollout-other')).toMatchObject([
      {
        state: 'refused',
        reason: 'release_refused',
        message: expect.stringMatching(/another update of gpufleet-agent is in progress here \(rollout rollout-first\)/),
      },
      { state: 'failed', message: expect.stringMatching(/while rollout rollout-first is updating it/) },
    ]);
    expect(installer.applied).toHaveLength(1);
    expect(h.inProgress.size).toBe(0);
  });

  it('refuses kinds it has no installer for, and everything when updates are off', async () => {
    await handler({ installer: null }).onFrame(apply(rollout()));
    expect(reports.at(-1)).toMatchObject({ state: 'refused', reason: 'unsupported', message: expect.stringMatching(/gpufleet-agent launch/) });
    const bundle = rollout({
      release: { kind: 'bundle', name: 'inference', version: '12' },
      target: { path: 'bundles/inference/inference-12.tar', sha256: SHA },
    });
    await handler().onFrame(apply(bundle));
    expect(reports.at(-1)).toMatchObject({
      state: 'refused',
      reason: 'unsupported',
      kind: 'bundle',
      name: 'inference',
      message: expect.stringMatching(/no host bundles/),
    });
    const installer = new FakeInstaller();
    const off = handler({ installer, enabled: false });
    await off.onFrame(apply(rollout()));
    await off.onFrame({ op: 'rollback', rolloutId: 'rollout-0001', kind: 'agent', name: 'gpufleet-agent', reason: 'x' });
    expect(reports.slice(-2)).toMatchObject([
      { state: 'refused', reason: 'unsupported', message: expect.stringMatching(/--updates off/) },
      { state: 'failed', reason: 'unsupported', message: expect.stringMatching(/--updates off/) },
    ]);
    expect(installer.applied).toEqual([]);
    expect(installer.rollbacks).toEqual([]);
  });

  it('rolls back through the installer; an installer that throws leaves the old version reported as running', async () => {
    const installer = new FakeInstaller();
    const h = handler({ installer });
    await h.onFrame({ op: 'rollback', rolloutId: 'rollout-0001', kind: 'agent', name: 'gpufleet-agent', reason: 'wave 2 failed' });
    expect(installer.rollbacks).toEqual(['gpufleet-agent: wave 2 failed']);
    expect(reports.at(-1)).toMatchObject({ state: 'restarting', version: '0.2.0', message: 'going back' });
    installer.fail = new Error('disk full');
    await h.onFrame(apply(rollout()));
    expect(reports.at(-1)).toMatchObject({ state: 'failed', rolledBack: false, runningVersion: '0.2.0', message: 'could not install: disk full' });
    await handler({ installer: null }).onFrame({ op: 'rollback', rolloutId: 'rollout-0001', kind: 'bundle', name: 'inference', reason: 'x' });
    expect(reports.at(-1)).toMatchObject({ state: 'failed', reason: 'unsupported' });
  });
});

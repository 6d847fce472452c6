import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  capabilityId,
  generateEd25519,
  signLabelAttestation,
  signRevocation,
  signRootsUpdate,
  type Capability,
  type Ed25519KeyPair,
  type LabelAttestation,
  type SignedCommand,
} from '@gpufleet/protocol';
import { FakeControlPlane } from '../testing/fake-control-plane.js';
import { capabilityFor, deliver, signedCommand, startExecAgent, type ExecAgent } from '../testing/exec-harness.js';
import { MemoryStateStore } from '../runtime/state.js';
import { TrustStore } from './trust-store.js';

/**
 * Labels a host can trust, over real frames: a selector naming a label the host cannot vouch for
 * is refused (negative or positive), labels come from built-ins, the join (token) and signed
 * label attestations pushed in trust frames.
 */

const root = generateEd25519();
const operator = generateEd25519();
const stranger = generateEd25519();

let cp: FakeControlPlane;
let host: ExecAgent;

beforeAll(async () => {
  cp = new FakeControlPlane({ heartbeatMs: 1000 });
  await cp.start();
  // Joined with region=eu (as a join token's labels arrive): stub-host, 2 x H100.
  host = await startExecAgent(cp, { roots: [root.did], labels: { region: 'eu' }, seed: 21 });
});

afterAll(async () => {
  await host?.agent.stop();
  await cp?.stop();
});

function attest(
  labels: Record<string, string>,
  version: number,
  by: Ed25519KeyPair = root,
  cap: Capability | null = null,
  node = host.identity.did,
): LabelAttestation {
  return signLabelAttestation({ v: 1, node, labels, version, issuedAt: Date.now(), iss: by.did, cap }, by.privateKeyPem);
}

function pushLabels(attestation: unknown): void {
  cp.sendTo(host.identity.did, { t: 'trust', body: { roots: [], revocations: [], labels: attestation } });
}

/** An operator's `true` under a capability for `on`; target '*'. */
function underCapability(on: string): SignedCommand {
  return signedCommand(operator, { command: { kind: 'argv', argv: ['true'] }, capability: capabilityFor(root, operator.did, { on }) });
}

async function outcome(cmd: SignedCommand): Promise<{ kind: string; reason?: string; message?: string }> {
  deliver(cp, host.identity.did, cmd);
  await cp.waitFor(`an outcome for ${cmd.payload.runId}`, () =>
    host.node.events.some((e) => ['run-result', 'run-refused'].includes(e.body.kind) && (e.body.data as { runId?: string }).runId === cmd.payload.runId),
  );
  const ev = host.node.events.find(
    (e) => ['run-result', 'run-refused'].includes(e.body.kind) && (e.body.data as { runId?: string }).runId === cmd.payload.runId,
  )!.body;
  return ev.kind === 'run-refused' ? { kind: ev.kind, ...(ev.data as { reason: string; message: string }) } : { kind: ev.kind };
}

describe('selectors on labels the host vouches for', () => {
  it('env!=prod is refused while env is unvouched, not taken as absent', async () => {
    const r = await outcome(underCapability('env!=prod'));
    expect(r).toMatchObject({ kind: 'run-refused', reason: 'selector_mismatch' });
    expect(r.message).toMatch(/cannot vouch for label 'env'/);
    // A root's own command targeting env!=prod is held to the same rule.
    const direct = await outcome(signedCommand(root, { command: { kind: 'argv', argv: ['true'] }, target: 'env!=prod' }));
    expect(direct).toMatchObject({ kind: 'run-refused', reason: 'selector_mismatch' });
  });

  it('region=eu from the join runs; built-in gpu.model=H100 runs; an unknown positive label is refused', async () => {
    expect(await outcome(underCapability('region=eu'))).toMatchObject({ kind: 'run-result' });
    expect(await outcome(underCapability('gpu.model=H100,region!=us'))).toMatchObject({ kind: 'run-result' });
    const r = await outcome(underCapability('rack=r12'));
    expect(r).toMatchObject({ kind: 'run-refused', reason: 'selector_mismatch' });
    expect(r.message).toMatch(/cannot vouch for label 'rack'/);
  });

  it('env!=prod is refused where env=prod is attested, and runs once env=dev is attested', async () => {
    pushLabels(attest({ env: 'prod' }, 1));
    const r = await outcome(underCapability('env!=prod'));
    expect(r).toMatchObject({ kind: 'run-refused', reason: 'selector_mismatch' });
    expect(r.message).toMatch(/does not match/);

    // An operator holding node/labels from a root may attest too.
    pushLabels(attest({ env: 'dev' }, 2, operator, capabilityFor(root, operator.did, { can: ['node/labels'] })));
    expect(await outcome(underCapability('env!=prod'))).toMatchObject({ kind: 'run-result' });
    // The attestation is the node's complete operator label set: a label it does not name is known absent.
    expect(await outcome(underCapability('!rack'))).toMatchObject({ kind: 'run-result' });
    expect(await outcome(underCapability('region=eu,env=dev'))).toMatchObject({ kind: 'run-result' });
  });

  it('ignores forged, older, wrong-node and unknown-issuer attestations: the host keeps env=dev', async () => {
    const forged = { ...attest({ env: 'dev' }, 9), labels: { env: 'prod' } };
    for (const bad of [
      forged,
      attest({ env: 'prod' }, 1),
      attest({ env: 'prod' }, 10, root, null, generateEd25519().did),
      attest({ env: 'prod' }, 11, stranger),
      'garbage',
    ])
      pushLabels(bad);
    expect(await outcome(underCapability('env!=prod'))).toMatchObject({ kind: 'run-result' });
    expect(await outcome(underCapability('env=prod'))).toMatchObject({ kind: 'run-refused', reason: 'selector_mismatch' });
  });
});

describe('TrustStore keeps the latest attestation', () => {
  it('survives a restart from its log and refuses attestations for another node id', () => {
    const node = generateEd25519();
    const state = new MemoryStateStore();
    state.saveConfig({ nodeId: node.did, serverUrl: 'http://127.0.0.1:1', caPem: null, roots: [root.did], heartbeatMs: 1000, labels: {} });
    const base = { hostname: 'h1' };
    const trust = new TrustStore({ state, joinRoots: [root.did] });
    expect(trust.labelView(base).vouches('env')).toBe(false);
    const sign = (labels: Record<string, string>, version: number, forNode = node.did) =>
      signLabelAttestation({ v: 1, node: forNode, labels, version, issuedAt: Date.now(), iss: root.did, cap: null }, root.privateKeyPem);
    const v3 = sign({ env: 'dev' }, 3);
    expect(trust.applyTrust({ roots: [], revocations: [], labels: v3 }, base)).toMatchObject({ labelsChanged: true, ignored: [] });
    // The server resends the one held on every session: nothing to do, nothing to complain about.
    expect(trust.applyTrust({ roots: [], revocations: [], labels: v3 }, base)).toMatchObject({ labelsChanged: false, ignored: [] });
    expect(trust.applyTrust({ roots: [], revocations: [], labels: sign({ env: 'prod' }, 2) }, base).ignored.join()).toMatch(/not newer/);
    const other = trust.applyTrust({ roots: [], revocations: [], labels: sign({ env: 'x' }, 4, stranger.did) }, base);
    expect(other.ignored.join()).toMatch(/not this one/);

    const again = new TrustStore({ state, joinRoots: [root.did] });
    expect(again.labelsVersion).toBe(3);
    const view = again.labelView(base);
    expect(view.labels).toEqual({ hostname: 'h1', env: 'dev' });
    expect(view.vouches('env')).toBe(true);
    expect(view.vouches('team')).toBe(true);
    // Built-in keys are vouched only once the host has its facts.
    expect(again.labelView({}).vouches('gpu.model')).toBe(false);
    expect(again.labelView(base).vouches('gpu.model')).toBe(true);
    again.compact();
    expect(new TrustStore({ state, joinRoots: [root.did] }).labelsVersion).toBe(3);
  });

  it('an attestation whose signer lost its standing counts as none: labels are unvouched again', () => {
    const node = generateEd25519();
    const root2 = generateEd25519();
    const state = new MemoryStateStore();
    state.saveConfig({ nodeId: node.did, serverUrl: 'http://127.0.0.1:1', caPem: null, roots: [root.did, root2.did], heartbeatMs: 1000, labels: {} });
    const base = { hostname: 'h1' };
    const trust = new TrustStore({ state, joinRoots: [root.did, root2.did] });
    const cap = capabilityFor(root, operator.did, { can: ['node/labels'] });
    const byOperator = signLabelAttestation(
      { v: 1, node: node.did, labels: { env: 'dev' }, version: 1, issuedAt: Date.now(), iss: operator.did, cap },
      operator.privateKeyPem,
    );
    expect(trust.applyTrust({ roots: [], revocations: [], labels: byOperator }, base).labelsChanged).toBe(true);
    expect(trust.labelView(base).vouches('env')).toBe(true);
    const revocation = signRevocation(
      { v: 1, target: { capability: capabilityId(cap) }, iss: root.did, at: Date.now(), reason: 'left the team' },
      root.privateKeyPem,
    );
    trust.applyTrust({ roots: [], revocations: [revocation] }, base);
    expect(trust.labelView(base).vouches('env')).toBe(false);
    expect(trust.labelView(base).labels).toEqual(base);

    // A root-signed attestation stops counting when that root leaves the root set.
    const byRoot2 = signLabelAttestation(
      { v: 1, node: node.did, labels: { env: 'prod' }, version: 2, issuedAt: Date.now(), iss: root2.did, cap: null },
      root2.privateKeyPem,
    );
    expect(trust.applyTrust({ roots: [], revocations: [], labels: byRoot2 }, base).labelsChanged).toBe(true);
    expect(trust.labelView(base).labels).toMatchObject({ env: 'prod' });
    trust.applyTrust(
      { roots: [signRootsUpdate({ v: 1, version: 1, roots: [root.did], iss: root.did, at: Date.now() }, root.privateKeyPem)], revocations: [] },
      base,
    );
    expect(trust.labelView(base).vouches('env')).toBe(false);
  });
});

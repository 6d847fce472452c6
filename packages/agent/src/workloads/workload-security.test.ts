import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519, signRevocation, type AllocPlacement, type RefusalReason } from '@gpufleet/protocol';
import { capabilityFor, startExecAgent, type ExecAgent } from '../testing/exec-harness.js';
import { FakeControlPlane } from '../testing/fake-control-plane.js';
import { allocStates, hashOf, jobSpec, placementOf, signedJob, startAlloc, stopAlloc, stubAssigned, waitForAllocState } from '../testing/workload-harness.js';

/**
 * The host's decisive checks on workloads: each case sends a start whose workload would create
 * a marker file; the host must refuse it with its own reason, and the marker must stay absent
 * (a later, valid allocation has started by then, so an accepted one would have run first).
 */

const root = generateEd25519();
const operator = generateEd25519();
const serverKey = generateEd25519();
const victim = generateEd25519();

let cp: FakeControlPlane;
let host: ExecAgent;
let dir: string;
let n = 0;

beforeAll(async () => {
  cp = new FakeControlPlane({ heartbeatMs: 1000 });
  await cp.start();
  // stub-host: 2 x NVIDIA H100 (index 0 and 1), joined with region=eu.
  host = await startExecAgent(cp, { roots: [root.did], labels: { region: 'eu' } });
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-wl-matrix-'));
});

afterAll(async () => {
  await host?.agent.stop();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A job (1 GPU per allocation) whose workload creates a fresh marker file; with the marker's path. */
function markerJob(over: Parameters<typeof jobSpec>[1] = {}) {
  const marker = join(dir, `marker-${++n}`);
  return { marker, spec: jobSpec({ command: ['sh', '-c', `touch ${marker}; exec sleep 30`] }, over) };
}

/** Starts a valid allocation on GPU 1 and waits until it runs (then stops it): the refused one would have run by now. */
async function sentinel(): Promise<void> {
  const { marker, spec } = markerJob();
  const p = placementOf(signedJob(root, spec), { gpus: [stubAssigned(1)], index: 1 });
  startAlloc(cp, host.identity.did, p);
  await waitForAllocState(cp, host.node, p.allocId, 'running');
  await cp.waitFor('the sentinel marker', () => existsSync(marker));
  stopAlloc(cp, host.identity.did, p.allocId, hashOf(p));
  await waitForAllocState(cp, host.node, p.allocId, 'stopped');
}

/** Sends the start, waits for its refusal, proves nothing ran; returns reason and message. */
async function refused(placement: AllocPlacement | Record<string, unknown>, marker: string): Promise<{ reason: RefusalReason; message: string }> {
  const allocId = (placement as AllocPlacement).allocId;
  startAlloc(cp, host.identity.did, placement);
  const report = await waitForAllocState(cp, host.node, allocId, 'refused');
  await sentinel();
  expect(existsSync(marker)).toBe(false);
  expect(allocStates(host.node, allocId).map((s) => s.state)).toEqual(['refused']);
  expect(host.agent.workloads!.get(allocId)).toBeNull();
  return { reason: report.reason!, message: report.message };
}

describe('workload security: the host refuses and starts nothing', () => {
  it('control: a job signed by a root, and one signed under a workload/run capability, start', async () => {
    for (const [key, cap] of [
      [root, null],
      [operator, capabilityFor(root, operator.did, { can: ['workload/run'], on: 'region=eu' })],
    ] as const) {
      const { marker, spec } = markerJob();
      const p = placementOf(signedJob(key, spec, cap));
      startAlloc(cp, host.identity.did, p);
      await waitForAllocState(cp, host.node, p.allocId, 'running');
      await cp.waitFor('the marker', () => existsSync(marker));
      stopAlloc(cp, host.identity.did, p.allocId, hashOf(p));
      await waitForAllocState(cp, host.node, p.allocId, 'stopped');
    }
  });

  it('a job spec changed after signing', async () => {
    const { marker, spec } = markerJob();
    const signed = signedJob(root, jobSpec({ command: ['sh', '-c', 'echo harmless'] }));
    const tampered = { ...signed, payload: { ...signed.payload, job: spec } };
    const r = await refused(placementOf(tampered), marker);
    expect(r.reason).toBe('bad_signature');
    expect(r.message).toMatch(/changed after signing/);
  });

  it('a capability without workload/run', async () => {
    const { marker, spec } = markerJob();
    const cap = capabilityFor(root, operator.did, { can: ['exec/run'], on: '*' });
    expect((await refused(placementOf(signedJob(operator, spec, cap)), marker)).reason).toBe('ability_not_granted');
  });

  it('a capability whose selector this host does not match', async () => {
    const { marker, spec } = markerJob();
    const cap = capabilityFor(root, operator.did, { can: ['workload/run'], on: 'region=us' });
    expect((await refused(placementOf(signedJob(operator, spec, cap)), marker)).reason).toBe('selector_mismatch');
  });

  it('a job constraint this host does not match', async () => {
    const { marker, spec } = markerJob({ constraints: ['region=us'] });
    const r = await refused(placementOf(signedJob(root, spec)), marker);
    expect(r.reason).toBe('selector_mismatch');
    expect(r.message).toContain("constraint 'region=us'");
  });

  it('a spec injected by the server: signed by a key that is no root and holds no capability', async () => {
    const { marker, spec } = markerJob();
    expect((await refused(placementOf(signedJob(serverKey, spec)), marker)).reason).toBe('unknown_issuer');
  });

  it('a job by a key revoked through a trust frame (the same trust store as signed commands)', async () => {
    const cap = capabilityFor(root, victim.did, { can: ['workload/run'], on: '*' });
    const revocation = signRevocation({ v: 1, target: { did: victim.did }, iss: root.did, at: Date.now(), reason: 'key lost' }, root.privateKeyPem);
    // Frames are handled in order: the revocation applies before the start that follows it.
    cp.sendTo(host.identity.did, { t: 'trust', body: { roots: [], revocations: [revocation] } });
    const { marker, spec } = markerJob();
    expect((await refused(placementOf(signedJob(victim, spec, cap)), marker)).reason).toBe('revoked');
  });

  describe('placements that do not fit the signed job or this host', () => {
    const cases: [string, (p: AllocPlacement) => AllocPlacement, RegExp][] = [
      ['a GPU this host lacks', (p) => ({ ...p, gpus: [{ index: 5, uuid: 'GPU-00000005-1111-2222-3333-444444444444' }] }), /this host has no GPU 5/],
      ['a wrong UUID', (p) => ({ ...p, gpus: [{ index: 0, uuid: 'GPU-deadbeef-0000-0000-0000-000000000000' }] }), /GPU 0 here is GPU-00000000/],
      ['more GPUs than the spec asks for', (p) => ({ ...p, gpus: [stubAssigned(0), stubAssigned(1)] }), /needs 1 GPU\(s\) but was given 2/],
      ['an index past the count', (p) => ({ ...p, index: 2 }), /web-2 is not one of them/],
      ['a group the job does not have', (p) => ({ ...p, group: 'db' }), /no allocation group 'db'/],
    ];
    for (const [what, change, message] of cases) {
      it(what, async () => {
        const { marker, spec } = markerJob();
        const r = await refused(change(placementOf(signedJob(root, spec))), marker);
        expect(r.reason).toBe('placement_invalid');
        expect(r.message).toMatch(message);
      });
    }

    it('a pin to another host', async () => {
      const { marker, spec } = markerJob({ pin: { 'web-0': 'other-host' } });
      const r = await refused(placementOf(signedJob(root, spec)), marker);
      expect([r.reason, r.message]).toEqual(['placement_invalid', expect.stringMatching(/pins web-0 to 'other-host'/)]);
      // The same pin naming this host is fine.
      const here = markerJob({ pin: { 'web-0': 'stub-host' } });
      const p = placementOf(signedJob(root, here.spec));
      startAlloc(cp, host.identity.did, p);
      await waitForAllocState(cp, host.node, p.allocId, 'running');
      stopAlloc(cp, host.identity.did, p.allocId, hashOf(p));
      await waitForAllocState(cp, host.node, p.allocId, 'stopped');
    });

    it('a GPU held by another allocation', async () => {
      const holder = placementOf(signedJob(root, jobSpec({ command: ['sleep', '30'] })));
      startAlloc(cp, host.identity.did, holder);
      await waitForAllocState(cp, host.node, holder.allocId, 'running');
      const { marker, spec } = markerJob();
      const r = await refused(placementOf(signedJob(root, spec), { index: 1 }), marker);
      expect([r.reason, r.message]).toEqual(['placement_invalid', `GPU 0 is held by allocation ${holder.allocId}`]);
      stopAlloc(cp, host.identity.did, holder.allocId, hashOf(holder));
      await waitForAllocState(cp, host.node, holder.allocId, 'stopped');
    });
  });

  it('a stop for a different spec hash leaves the allocation running', async () => {
    const { marker, spec } = markerJob();
    const p = placementOf(signedJob(root, spec));
    startAlloc(cp, host.identity.did, p);
    await waitForAllocState(cp, host.node, p.allocId, 'running');
    await cp.waitFor('the marker', () => existsSync(marker));
    const newer = jobSpec({ command: ['sleep', '1'] });
    stopAlloc(cp, host.identity.did, p.allocId, hashOf(placementOf(signedJob(root, newer))));
    await waitForAllocState(cp, host.node, p.allocId, 'running', { count: 2 });
    expect(host.agent.workloads!.get(p.allocId)?.state).toBe('running');
    stopAlloc(cp, host.identity.did, p.allocId, hashOf(p));
    await waitForAllocState(cp, host.node, p.allocId, 'stopped');
  });

  it('garbage alloc frames are refused or ignored without crashing the agent', async () => {
    const { marker, spec } = markerJob();
    const good = placementOf(signedJob(root, spec));
    const garbage: [unknown, string | null][] = [
      [null, null],
      ['start', null],
      [{ op: 'start' }, null],
      [{ op: 'explode', allocId: 'garbage-0001' }, null],
      [{ op: 'stop', allocId: 'garbage-0002' }, null],
      [{ op: 'start', placement: { ...good, allocId: 'garbage-0003', gpus: 'all' } }, 'garbage-0003'],
      [{ op: 'start', placement: { ...good, allocId: 'garbage-0004', jobVersion: -1 } }, 'garbage-0004'],
      [{ op: 'start', placement: { ...good, allocId: 'garbage-0005', job: { payload: { job: 42 }, sig: 7 } } }, 'garbage-0005'],
      [{ op: 'start', placement: { ...good, allocId: 'garbage-0006', extra: true } }, 'garbage-0006'],
      [{ op: 'start', placement: { ...good, allocId: '../../etc/passwd' } }, null],
      [{ op: 'start', placement: { ...good, allocId: 'garbage-0007', gpus: [{ index: -1, uuid: null }] } }, 'garbage-0007'],
    ];
    for (const [body] of garbage) cp.sendTo(host.identity.did, { t: 'alloc', body });
    for (const [, allocId] of garbage) {
      if (allocId === null) continue;
      const report = await waitForAllocState(cp, host.node, allocId, 'refused');
      expect(report.reason).toBe('malformed');
      expect(report.message).toMatch(/does not match the protocol/);
    }
    // The hash of a readable spec is reported with the refusal; an unreadable one is null.
    expect(allocStates(host.node, 'garbage-0003')[0]!.specHash).toBe(hashOf(good));
    expect(allocStates(host.node, 'garbage-0005')[0]!.specHash).toBeNull();
    await sentinel();
    expect(existsSync(marker)).toBe(false);
    expect(host.agent.linkState).toBe('live');
    expect(cp.violations).toEqual([]);
    expect(host.node.events.some((e) => (e.body.data as { allocId?: string }).allocId === 'garbage-0001')).toBe(false);
  });
});

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519, signRevocation } from '@gpufleet/protocol';
import { TrustStore } from '../exec/trust-store.js';
import { ALLOCATIONS_FILE, FileStateStore } from '../runtime/file-state.js';
import { capabilityFor, startExecAgent, type ExecAgent } from '../testing/exec-harness.js';
import { FakeControlPlane } from '../testing/fake-control-plane.js';
import { processAlive, waitGone } from '../testing/process-probe.js';
import { allocOutput, allocStates, hashOf, jobSpec, placementOf, signedJob, startAlloc, stopAlloc, waitForAllocState } from '../testing/workload-harness.js';

/**
 * Allocations across agent restarts, with the state in a real data dir: what ran is taken over
 * (a process workload, which cannot outlive its agent, is started again), what ended stays
 * ended, and what may no longer run here is stopped.
 */

const root = generateEd25519();
const operator = generateEd25519();
let cp: FakeControlPlane;
let dir: string;
const agents: ExecAgent[] = [];

beforeAll(async () => {
  cp = new FakeControlPlane({ heartbeatMs: 1000 });
  await cp.start();
});

afterAll(async () => {
  await cp?.stop();
});

afterEach(async () => {
  for (const a of agents.splice(0)) await a.agent.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function agentOn(state: FileStateStore, enabled = true): Promise<ExecAgent> {
  const a = await startExecAgent(cp, { roots: [root.did], labels: { region: 'eu' }, state, seed: 11, workloads: { enabled } });
  agents.push(a);
  return a;
}

function pidsOf(a: ExecAgent, allocId: string): number[] {
  return [...allocOutput(a.node, allocId).stdout.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
}

describe('allocations across agent restarts', () => {
  it('starts a process workload again, keeps a finished one finished, and still obeys stop orders', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gpufleet-wl-restart-'));
    const first = await agentOn(new FileStateStore(dir));
    const service = placementOf(signedJob(root, jobSpec({ command: ['sh', '-c', 'echo pid=$$; exec sleep 30'] })));
    const batch = placementOf(signedJob(root, jobSpec({ command: ['sh', '-c', 'echo ran'], resources: { gpus: 0 } }, { kind: 'batch' })), { gpus: [] });
    startAlloc(cp, first.identity.did, service);
    startAlloc(cp, first.identity.did, batch);
    await waitForAllocState(cp, first.node, service.allocId, 'running');
    await waitForAllocState(cp, first.node, batch.allocId, 'complete');
    await cp.waitFor('the pid', () => pidsOf(first, service.allocId).length === 1);
    const [oldPid] = pidsOf(first, service.allocId);

    await first.agent.stop();
    agents.length = 0;
    // A process workload does not outlive its agent (it would hold its GPU with nobody watching).
    await waitGone([oldPid!]);
    const stored = JSON.parse(readFileSync(join(dir, ALLOCATIONS_FILE), 'utf8')) as { allocations: { state: string }[] };
    expect(stored.allocations.map((a) => a.state).sort()).toEqual(['complete', 'running']);

    const second = await agentOn(new FileStateStore(dir));
    const again = await waitForAllocState(cp, second.node, service.allocId, 'running', { count: 2 });
    expect(again).toMatchObject({ restarts: 1, specHash: hashOf(service) });
    expect(again.message).toMatch(/started again after the agent restarted/);
    await cp.waitFor('a new pid', () => pidsOf(second, service.allocId).length === 2);
    const newPid = pidsOf(second, service.allocId)[1]!;
    expect(processAlive(newPid)).toBe(true);
    // Its GPU is still its own: another allocation cannot take it.
    expect(second.agent.workloads!.holderOf(0)).toBe(service.allocId);

    // A start delivered again for the finished batch allocation does not run it a second time.
    startAlloc(cp, second.identity.did, batch);
    await waitForAllocState(cp, second.node, batch.allocId, 'complete', { count: 2 });
    expect(allocOutput(second.node, batch.allocId).stdout).toBe('ran\n');

    stopAlloc(cp, second.identity.did, service.allocId, 'b'.repeat(64));
    await waitForAllocState(cp, second.node, service.allocId, 'running', { count: 3 });
    stopAlloc(cp, second.identity.did, service.allocId, hashOf(service));
    await waitForAllocState(cp, second.node, service.allocId, 'stopped');
    await waitGone([newPid]);
  });

  it('stops an allocation whose signer was revoked while the agent was down, with the reason', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gpufleet-wl-revoked-'));
    const state = new FileStateStore(dir);
    const first = await agentOn(state);
    const cap = capabilityFor(root, operator.did, { can: ['workload/run'], on: '*' });
    const p = placementOf(signedJob(operator, jobSpec({ command: ['sh', '-c', 'echo pid=$$; exec sleep 30'] }), cap));
    startAlloc(cp, first.identity.did, p);
    await waitForAllocState(cp, first.node, p.allocId, 'running');
    await cp.waitFor('the pid', () => pidsOf(first, p.allocId).length === 1);
    await first.agent.stop();
    agents.length = 0;

    // The revocation reaches the host's trust log while its agent is down.
    const rev = signRevocation({ v: 1, target: { did: operator.did }, iss: root.did, at: Date.now(), reason: 'left the team' }, root.privateKeyPem);
    new TrustStore({ state, joinRoots: [root.did] }).applyTrust({ roots: [], revocations: [rev] });

    const second = await agentOn(new FileStateStore(dir));
    const stopped = await waitForAllocState(cp, second.node, p.allocId, 'stopped');
    expect(stopped.reason).toBe('revoked');
    expect(stopped.message).toMatch(/may no longer run here: .*is revoked/);
    // Never started again: only the first agent's instance ever printed a pid.
    await new Promise((r) => setTimeout(r, 200));
    expect(pidsOf(second, p.allocId)).toHaveLength(1);
    expect(allocStates(second.node, p.allocId).filter((s) => s.state === 'running')).toHaveLength(1);
  });

  it('stops what it ran when it comes back with workloads turned off, and refuses new starts', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gpufleet-wl-off-'));
    const first = await agentOn(new FileStateStore(dir));
    const p = placementOf(signedJob(root, jobSpec({ command: ['sh', '-c', 'echo pid=$$; exec sleep 30'] })));
    startAlloc(cp, first.identity.did, p);
    await waitForAllocState(cp, first.node, p.allocId, 'running');
    await first.agent.stop();
    agents.length = 0;

    const second = await agentOn(new FileStateStore(dir), false);
    const stopped = await waitForAllocState(cp, second.node, p.allocId, 'stopped');
    expect([stopped.reason, stopped.message]).toEqual(['unsupported', expect.stringMatching(/--workloads off/)]);
    const fresh = placementOf(signedJob(root, jobSpec({ command: ['sleep', '30'] })));
    startAlloc(cp, second.identity.did, fresh);
    expect((await waitForAllocState(cp, second.node, fresh.allocId, 'refused')).reason).toBe('unsupported');
  });

  it('drops a stored record whose spec was edited on disk instead of running it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gpufleet-wl-tamper-'));
    const first = await agentOn(new FileStateStore(dir));
    const p = placementOf(signedJob(root, jobSpec({ command: ['sh', '-c', 'echo pid=$$; exec sleep 30'] })));
    startAlloc(cp, first.identity.did, p);
    await waitForAllocState(cp, first.node, p.allocId, 'running');
    await first.agent.stop();
    agents.length = 0;

    const path = join(dir, ALLOCATIONS_FILE);
    writeFileSync(path, readFileSync(path, 'utf8').replace('echo pid=$$; exec sleep 30', 'echo pwned; exec sleep 30'));
    const store = new FileStateStore(dir);
    expect(store.loadAllocations()).toEqual([]);
    expect(store.damagedAllocations).toBe(1);
    writeFileSync(path, '{not json');
    expect(store.loadAllocations()).toEqual([]);
    expect(store.damagedAllocations).toBe(1);
  });
});

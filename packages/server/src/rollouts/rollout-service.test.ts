import { describe, expect, it } from 'vitest';
import { FleetError, generateEd25519, signCapability } from '@gpufleet/protocol';
import { readyNodes, startRolloutKit } from './__tests__/rollout-kit.js';

async function expectFleetError(work: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const err = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(FleetError.is(err), String(err)).toBe(true);
  expect((err as FleetError).code).toBe(code);
  if (message) expect((err as Error).message).toMatch(message);
}

describe('the rollout service over a real store and TUF repository', () => {
  it('starts: verifies, checks the release, picks hosts by selector and signer, stores them and sends the canary its frame', async () => {
    const kit = await startRolloutKit([
      ...readyNodes(3),
      { id: 'node-x', hostname: 'other', labels: { pool: 'training' }, status: 'READY' },
      { id: 'node-s', hostname: 'ssh-only', labels: { pool: 'inference' }, status: 'READY', mode: 'ssh' },
    ]);
    try {
      const d = await kit.service.create(kit.sign({}, { selector: 'pool=inference' }), 'token:ops');
      expect(d.id).toMatch(/^ro-[0-9a-f]{20}$/);
      expect(d.hosts.map((h) => [h.hostname, h.step, h.state])).toEqual([
        ['h1', 0, 'sent'],
        ['h2', 1, 'pending'],
        ['h3', 2, 'pending'],
      ]);
      expect(d.steps.map((s) => [s.name, s.state])).toEqual([
        ['canary', 'running'],
        ['wave 1 (50%)', 'pending'],
        ['wave 2 (100%)', 'pending'],
      ]);
      const [frame] = kit.frames;
      expect(frame!.frame).toMatchObject({ t: 'update', body: { op: 'apply', rolloutId: d.id } });
      expect(frame!.frame.body.rollout).toEqual((await kit.releases.store.getRollout(d.id))!.signed);
      expect((await kit.service.get(d.id)).counts).toMatchObject({ updating: 1, pending: 2 });
      expect((await kit.service.list()).items.map((r) => r.id)).toEqual([d.id]);
      expect((await kit.releases.store.listRolloutEvents(d.id)).map((e) => e.kind)).toEqual(['created', 'step-started']);
    } finally {
      await kit.close();
    }
  });

  it("goes only to the hosts the signer's capability reaches; a capability without release/rollout is refused", async () => {
    const kit = await startRolloutKit([...readyNodes(2), { id: 'node-t', hostname: 'trainer', labels: { pool: 'training' }, status: 'READY' }]);
    try {
      const alice = generateEd25519();
      const now = kit.releases.clock.now();
      const grant = (can: ['release/rollout'] | ['exec/run']) =>
        signCapability(
          { v: 1, iss: kit.root.did, aud: alice.did, can, on: 'pool=inference', nbf: now - 1000, exp: now + 3_600_000, nonce: `n-${can[0]}`, prf: [] },
          kit.root.privateKeyPem,
        );
      const d = await kit.service.create(kit.sign({}, { invoker: alice.did, capability: grant(['release/rollout']) }, alice), 'token:alice');
      expect(d.hosts.map((h) => h.hostname)).toEqual(['h1', 'h2']);
      await kit.service.abort(d.id, 'token:alice', { rollback: false });
      await expectFleetError(
        kit.service.create(kit.sign({}, { invoker: alice.did, capability: grant(['exec/run']) }, alice), 'a'),
        'permission_denied',
        /release\/rollout/,
      );
    } finally {
      await kit.close();
    }
  });

  it('refuses what must not start, saying why', async () => {
    const kit = await startRolloutKit(readyNodes(2));
    try {
      await expectFleetError(kit.service.create({ payload: {}, sig: 'x' }, 'a'), 'invalid_argument', /not a valid signed rollout/);
      const good = kit.sign();
      await expectFleetError(kit.service.create({ ...good, sig: kit.sign().sig }, 'a'), 'invalid_argument', /does not carry a valid signature/);
      await expectFleetError(kit.service.create(kit.sign({}, { selector: 'pool=none' }), 'a'), 'invalid_argument', /matches no agent host/);
      await expectFleetError(
        kit.service.create(kit.sign({}, { target: { path: 'agent/gpufleet-agent-0.3.0.tgz', sha256: 'b'.repeat(64) } }), 'a'),
        'failed_precondition',
        /sign it again/,
      );
      await expectFleetError(
        kit.service.create(
          kit.sign(
            {},
            { release: { kind: 'agent', name: 'gpufleet-agent', version: '9.9.9' }, target: { path: 'agent/gpufleet-agent-9.9.9.tgz', sha256: kit.sha256 } },
          ),
          'a',
        ),
        'not_found',
        /agent@9.9.9 is not published/,
      );
      await expectFleetError(kit.service.create(kit.sign({}, {}, generateEd25519()), 'a'), 'permission_denied', /not a fleet root/);
      await expectFleetError(kit.service.create(kit.sign({}, { issuedAt: kit.releases.clock.now() + 3_600_000 }), 'a'), 'invalid_argument', /in the future/);
      await kit.service.create(good, 'a');
      await expectFleetError(kit.service.create(good, 'a'), 'already_exists', /started before/);
      await expectFleetError(kit.service.create(kit.sign(), 'a'), 'conflict', /abort it or let it finish/);
      kit.lease.held = false;
      await expectFleetError(kit.service.create(kit.sign(), 'a'), 'failed_precondition', /replica replica-b \(https:\/\/b.example:8443\) holds it/);
      await expectFleetError(kit.service.pause('ro-whatever1', 'a'), 'failed_precondition', /does not run rollouts/);
      kit.lease.held = true;
      await expectFleetError(kit.service.get('ro-missing1'), 'not_found', /no rollout/);
      await expectFleetError(
        kit.service.resume((await kit.service.list()).items[0]!.id, 'a'),
        'failed_precondition',
        /is running: only a paused rollout can resume/,
      );
    } finally {
      await kit.close();
    }
  });

  it('moves on host reports, pauses on failures with rollback frames, and a restarted service picks up from the store', async () => {
    const kit = await startRolloutKit(readyNodes(5));
    try {
      const { id } = await kit.service.create(kit.sign({ healthyForMs: 1000, maxFailures: 0 }), 'token:ops');
      expect(kit.takeFrames('apply')).toEqual(['h1']);
      await kit.report('node-1', id, 'verifying');
      await kit.report('node-1', id, 'healthy');
      await kit.service.tick();
      expect((await kit.service.get(id)).steps[0]!.state).toBe('settling');
      // Restart: a new service over the same store; time passes; its tick goes on.
      await kit.service.stop();
      kit.service = kit.restart();
      kit.releases.clock.advance(1000);
      await kit.service.tick();
      expect(kit.takeFrames('apply')).toEqual(['h2', 'h3']);
      await kit.report('node-2', id, 'failed', { rolledBack: false, message: 'new agent crashed at start' });
      await kit.service.tick();
      const d = await kit.service.get(id);
      expect(d.state).toBe('paused');
      expect(d.message).toMatch(/1 host failed \(h2\)/);
      expect(kit.takeFrames('rollback')).toEqual(['h2']);
      expect(kit.frames.at(-1)).toBeUndefined();
      // A report with garbage data is ignored; a report for an unknown rollout too.
      await kit.service.onHostReport({
        nodeId: 'node-3',
        seq: 1,
        id: 'x',
        ts: 0,
        kind: 'update-state',
        gpuUuid: null,
        pciBusId: null,
        message: '',
        data: { state: 'exploded' },
        receivedAt: 0,
      });
      await kit.report('node-3', 'ro-unknown1', 'healthy');
      expect((await kit.service.get(id)).hosts.find((h) => h.hostname === 'h3')!.state).toBe('sent');
      // Abort with rollback: h1 (healthy) and h3 (sent) are told; h2 got its rollback already.
      const aborted = await kit.service.abort(id, 'token:ops', { rollback: true, reason: 'bad build' });
      expect(aborted.state).toBe('aborted');
      expect(kit.takeFrames('rollback')).toEqual(['h1', 'h3']);
      expect((await kit.releases.store.listRolloutEvents(id)).map((e) => e.kind)).toContain('host-failed');
    } finally {
      await kit.close();
    }
  });

  it('sends a skipped host the update when it comes back, and resends an updating host its frame when its session is ready', async () => {
    const nodes = readyNodes(2);
    nodes[1]!.status = 'CORDONED';
    const kit = await startRolloutKit(nodes);
    try {
      const { id } = await kit.service.create(kit.sign({ canary: 0, waves: [100], healthyForMs: 0 }), 'token:ops');
      expect(kit.takeFrames('apply')).toEqual(['h1']);
      expect((await kit.service.get(id)).hosts[1]).toMatchObject({ state: 'skipped', message: 'skipped: cordoned' });
      kit.service.onSessionReady('node-1');
      await kit.service.idle();
      expect(kit.takeFrames('apply')).toEqual(['h1']);
      await kit.report('node-1', id, 'healthy');
      await kit.service.tick();
      expect((await kit.service.get(id)).state).toBe('succeeded');
      kit.service.start();
      kit.nodes.get('node-2')!.status = 'READY';
      kit.hub.publish({ type: 'node', nodeId: 'node-2', change: 'status' });
      await kit.service.idle();
      expect(kit.takeFrames('apply')).toEqual(['h2']);
      expect((await kit.service.get(id)).hosts[1]!.state).toBe('sent');
    } finally {
      await kit.close();
    }
  });

  it('with replicas: a replica without the lease stores host reports and resends frames; the holder moves the rollout', async () => {
    const kit = await startRolloutKit(readyNodes(2));
    try {
      const { id } = await kit.service.create(kit.sign({ canary: 1, waves: [100], healthyForMs: 0 }), 'token:ops');
      expect(kit.takeFrames('apply')).toEqual(['h1']);
      const other = kit.replica(false);
      // The host's session is on the other replica: its report is written there.
      const holder = kit.service;
      kit.service = other;
      await kit.report('node-1', id, 'installing');
      other.onSessionReady('node-1');
      await other.idle();
      expect(kit.takeFrames('apply')).toEqual(['h1']); // resent from there; no state changed
      await kit.report('node-1', id, 'healthy');
      await other.tick(); // not the holder: nothing moves
      expect(kit.takeFrames('apply')).toEqual([]);
      expect((await holder.get(id)).hosts[0]!.state).toBe('healthy');
      await holder.tick();
      expect(kit.takeFrames('apply')).toEqual(['h2']);
      kit.service = holder;
      await other.stop();
    } finally {
      await kit.close();
    }
  });
});

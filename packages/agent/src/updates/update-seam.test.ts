import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateEd25519, signRollout, type UpdateFrame } from '@gpufleet/protocol';
import { FakeControlPlane } from '../testing/fake-control-plane.js';
import { startExecAgent, type ExecAgent } from '../testing/exec-harness.js';
import type { UpdateHandlerHost } from './update-frame-handler.js';

/**
 * The agent's declared seam for update frames (UpdateOptions.handler, what the simulator's hosts
 * use): a real agent over a real WebSocket hands every `update` frame to the handler it was
 * given, with its outbox, and nothing else; without one it makes the verifying handler.
 */

const root = generateEd25519();
let cp: FakeControlPlane;
let host: ExecAgent | null = null;
beforeEach(async () => {
  cp = new FakeControlPlane();
  await cp.start();
});
afterEach(async () => {
  await host?.agent.stop();
  host = null;
  await cp.stop();
});

const rollout = signRollout(
  {
    v: 1,
    release: { kind: 'bundle', name: 'inference', version: '12' },
    target: { path: 'bundles/inference/inference-12.tar', sha256: 'c'.repeat(64) },
    selector: '',
    plan: { canary: 0, waves: [100], healthyForMs: 0, maxFailures: 0 },
    issuedAt: Date.now(),
    nonce: 'rollout-nonce-seam-0123456789',
    invoker: root.did,
    capability: null,
  },
  root.privateKeyPem,
);

describe('the agent update seam', () => {
  it('hands update frames to the given handler, which reports through the agent outbox', async () => {
    const frames: UpdateFrame['body'][] = [];
    let given: UpdateHandlerHost | null = null;
    host = await startExecAgent(cp, {
      roots: [root.did],
      updates: {
        handler: (h) => {
          given = h;
          return {
            onFrame: async (body) => {
              frames.push(body);
              h.enqueue(
                {
                  kind: 'update-state',
                  message: 'stand-in',
                  data: {
                    rolloutId: body.rolloutId,
                    kind: 'bundle',
                    name: 'inference',
                    version: '12',
                    fromVersion: null,
                    runningVersion: '12',
                    state: 'healthy',
                    rolledBack: false,
                    reason: null,
                    message: '',
                  },
                },
                true,
              );
            },
          };
        },
      },
    });
    expect(given!.agentVersion).toBe('1.0.0');
    expect(host.agent.updates).not.toBeNull();
    cp.sendTo(host.identity.did, { t: 'update', body: { op: 'apply', rolloutId: 'ro-seam-0001', rollout } });
    cp.sendTo(host.identity.did, { t: 'update', body: { op: 'rollback', rolloutId: 'ro-seam-0001', kind: 'bundle', name: 'inference', reason: 'test' } });
    await cp.waitFor('two update-state events', () => host!.node.events.filter((e) => e.body.kind === 'update-state').length === 2);
    expect(frames.map((f) => f.op)).toEqual(['apply', 'rollback']);
    expect(host.node.events.find((e) => e.body.kind === 'update-state')!.body.data).toMatchObject({ rolloutId: 'ro-seam-0001', state: 'healthy' });
  });

  it('without a handler, the verifying handler takes the frame and refuses what it cannot install', async () => {
    host = await startExecAgent(cp, { roots: [root.did] });
    cp.sendTo(host.identity.did, { t: 'update', body: { op: 'apply', rolloutId: 'ro-seam-0002', rollout } });
    await cp.waitFor('the refusal', () => host!.node.events.some((e) => e.body.kind === 'update-state'));
    expect(host.node.events.find((e) => e.body.kind === 'update-state')!.body.data).toMatchObject({
      rolloutId: 'ro-seam-0002',
      state: 'refused',
      reason: 'unsupported',
    });
  });
});

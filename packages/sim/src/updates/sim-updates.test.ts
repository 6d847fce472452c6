import { silentLogger } from '@gpufleet/agent';
import type { UpdateFrame } from '@gpufleet/protocol';
import { describe, expect, it } from 'vitest';
import { SimUpdates } from './sim-updates.js';

/** One simulated host's agent as the update seam sees it: the handler it was given and the events it enqueued. */
function hostAgent(u: SimUpdates, hostname: string) {
  const events: Array<{ state: string; data: Record<string, unknown> }> = [];
  const handler = u.handlerFor(hostname)({
    agentVersion: '0.2.0',
    enqueue: (e) => void events.push({ state: String(e.data?.state), data: e.data ?? {} }),
    logger: silentLogger,
  });
  return { handler, events };
}

const apply = (version: string, rolloutId = 'ro-sim-00001', kind: 'bundle' | 'agent' = 'bundle') =>
  ({
    op: 'apply',
    rolloutId,
    rollout: {
      payload: {
        release: { kind, name: kind === 'agent' ? 'gpufleet-agent' : 'inference', version },
        target: { path: `bundles/inference/inference-${version}.tar` },
      },
    },
  }) as unknown as UpdateFrame['body'];

describe('simulated release updates', () => {
  it('reports verifying, installing, healthy; again healthy at once for what runs', async () => {
    const u = new SimUpdates({ stepMs: 1 });
    const h = hostAgent(u, 'h1');
    await h.handler.onFrame(apply('12'));
    expect(h.events.map((e) => e.state)).toEqual(['verifying', 'installing', 'healthy']);
    expect(h.events[2]!.data).toMatchObject({
      rolloutId: 'ro-sim-00001',
      kind: 'bundle',
      name: 'inference',
      version: '12',
      fromVersion: null,
      runningVersion: '12',
    });
    expect(u.runningVersion('h1', 'inference')).toBe('12');
    await h.handler.onFrame(apply('12'));
    expect(h.events[3]!.data).toMatchObject({ state: 'healthy', message: 'already running' });
  });

  it('fails where a fault is set (rolled back or stuck) and goes back on a rollback frame', async () => {
    const u = new SimUpdates({ stepMs: 1 });
    const a = hostAgent(u, 'h1');
    const b = hostAgent(u, 'h2');
    await Promise.all([a.handler.onFrame(apply('12')), b.handler.onFrame(apply('12'))]);
    u.failOn(['h1']);
    u.failOn(['h2'], { rolledBack: false, message: 'stuck' });
    await Promise.all([a.handler.onFrame(apply('13', 'ro-sim-00002')), b.handler.onFrame(apply('13', 'ro-sim-00002'))]);
    expect(a.events[5]!.data).toMatchObject({ state: 'failed', rolledBack: true, runningVersion: '12' });
    expect(b.events[5]!.data).toMatchObject({ state: 'failed', rolledBack: false, runningVersion: '13', message: 'stuck' });
    expect(u.runningVersion('h1', 'inference')).toBe('12');
    await b.handler.onFrame({ op: 'rollback', rolloutId: 'ro-sim-00002', kind: 'bundle', name: 'inference', reason: 'too many failed' });
    expect(b.events[6]!.data).toMatchObject({ state: 'rolled-back', runningVersion: '12', message: 'too many failed' });
    expect(u.runningVersion('h2', 'inference')).toBe('12');
  });

  it('restarts the agent for an agent release and reports the end through the new agent', async () => {
    let restarted: ReturnType<typeof hostAgent> | null = null;
    const u = new SimUpdates({
      stepMs: 1,
      agentVersion: '0.2.0',
      restartAgent: async (hostname, version) => {
        expect(version).toBe('0.3.0');
        restarted = hostAgent(u, hostname);
      },
    });
    const old = hostAgent(u, 'h1');
    expect(u.runningVersion('h1', 'gpufleet-agent')).toBeNull();
    await old.handler.onFrame(apply('0.3.0', 'ro-sim-00003', 'agent'));
    expect(old.events.map((e) => e.state)).toEqual(['verifying', 'installing', 'restarting']);
    expect(old.events[0]!.data).toMatchObject({ fromVersion: '0.2.0' });
    expect(restarted!.events.map((e) => e.state)).toEqual(['healthy']);
    expect(restarted!.events[0]!.data).toMatchObject({ runningVersion: '0.3.0', fromVersion: '0.2.0' });
  });

  it('a fetch from an unreachable repository is refused and counted, the version kept', async () => {
    const u = new SimUpdates({ stepMs: 1, tuf: { url: 'http://127.0.0.1:9' } });
    const h = hostAgent(u, 'h1');
    await h.handler.onFrame(apply('12'));
    expect(h.events.map((e) => e.state)).toEqual(['verifying', 'refused']);
    expect(h.events[1]!.data).toMatchObject({ reason: 'release_refused', message: expect.stringMatching(/^fetch failed: /) });
    expect(u.fetchErrors).toBe(1);
    expect(u.runningVersion('h1', 'inference')).toBeNull();
  });
});

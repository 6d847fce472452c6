import type { Agent } from '@gpufleet/agent';
import { describe, expect, it } from 'vitest';
import { SimUpdates } from './sim-updates.js';

/** A stand-in for the agent: what it would do with frames, and the events it is given. */
function stubAgent() {
  const own: string[] = [];
  const events: Array<{ state: string; data: Record<string, unknown> }> = [];
  const agent = {
    onRemoteOp: (frame: { t: string; body?: unknown }) => void own.push(frame.t),
    enqueueEvent: (e: { kind: string; data: Record<string, unknown> }) => void events.push({ state: String(e.data.state), data: e.data }),
  };
  return { agent: agent as unknown as Agent, raw: agent, own, events };
}

const apply = (version: string, rolloutId = 'ro-sim-00001') => ({
  t: 'update',
  body: {
    op: 'apply',
    rolloutId,
    rollout: { payload: { release: { kind: 'bundle', name: 'inference', version }, target: { path: `bundles/inference/inference-${version}.tar` } } },
  },
});
const until = async (pred: () => boolean) => {
  for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 5));
};

describe('simulated release updates', () => {
  it('reports verifying, installing, healthy; again healthy at once for what runs; other frames go to the agent', async () => {
    const u = new SimUpdates({ stepMs: 1 });
    const s = stubAgent();
    u.attach(s.agent, 'h1');
    s.raw.onRemoteOp({ t: 'command' });
    expect(s.own).toEqual(['command']);
    s.raw.onRemoteOp(apply('12'));
    await until(() => s.events.length === 3);
    expect(s.events.map((e) => e.state)).toEqual(['verifying', 'installing', 'healthy']);
    expect(s.events[2]!.data).toMatchObject({
      rolloutId: 'ro-sim-00001',
      kind: 'bundle',
      name: 'inference',
      version: '12',
      fromVersion: null,
      runningVersion: '12',
    });
    expect(u.runningVersion('h1', 'inference')).toBe('12');
    s.raw.onRemoteOp(apply('12'));
    await until(() => s.events.length === 4);
    expect(s.events[3]!.data).toMatchObject({ state: 'healthy', message: 'already running' });
    expect(s.own).toEqual(['command']);
  });

  it('fails where a fault is set (rolled back or stuck) and goes back on a rollback frame', async () => {
    const u = new SimUpdates({ stepMs: 1 });
    const a = stubAgent();
    const b = stubAgent();
    u.attach(a.agent, 'h1');
    u.attach(b.agent, 'h2');
    a.raw.onRemoteOp(apply('12'));
    b.raw.onRemoteOp(apply('12'));
    await until(() => a.events.length === 3 && b.events.length === 3);
    u.failOn(['h1']);
    u.failOn(['h2'], { rolledBack: false, message: 'stuck' });
    a.raw.onRemoteOp(apply('13', 'ro-sim-00002'));
    b.raw.onRemoteOp(apply('13', 'ro-sim-00002'));
    await until(() => a.events.length === 6 && b.events.length === 6);
    expect(a.events[5]!.data).toMatchObject({ state: 'failed', rolledBack: true, runningVersion: '12' });
    expect(b.events[5]!.data).toMatchObject({ state: 'failed', rolledBack: false, runningVersion: '13', message: 'stuck' });
    expect(u.runningVersion('h1', 'inference')).toBe('12');
    b.raw.onRemoteOp({ t: 'update', body: { op: 'rollback', rolloutId: 'ro-sim-00002', kind: 'bundle', name: 'inference', reason: 'too many failed' } });
    await until(() => b.events.length === 7);
    expect(b.events[6]!.data).toMatchObject({ state: 'rolled-back', runningVersion: '12', message: 'too many failed' });
    expect(u.runningVersion('h2', 'inference')).toBe('12');
  });
});

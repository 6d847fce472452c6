import type { RolloutPlan, UpdateStateData } from '@gpufleet/protocol';
import { describe, expect, it } from 'vitest';
import type { RolloutHostRecord, RolloutRecord } from '../store/rollout-records.js';
import { ManualClock } from '../testing/test-server.js';
import { abort, advance, applyReport, nodeBack, pause, resume, type RolloutDecision, type RolloutWorld } from './rollout-machine.js';
import { orderHosts, splitSteps } from './rollout-steps.js';

/** The machine driven by hand: a fake clock, a fleet of named hosts whose availability the test sets. */
class Bench {
  readonly clock = new ManualClock(1_000_000);
  rollout: RolloutRecord;
  hosts: RolloutHostRecord[];
  readonly down = new Map<string, string>();
  readonly offline = new Set<string>();
  frames: RolloutDecision['frames'] = [];
  events: RolloutDecision['events'] = [];

  constructor(names: string[], plan: Partial<RolloutPlan> = {}) {
    const full: RolloutPlan = { canary: 1, waves: [50, 100], healthyForMs: 10_000, maxFailures: 0, ...plan };
    const chosen = orderHosts(names.map((n) => ({ nodeId: `id-${n}`, hostname: n })));
    const { steps, stepOf } = splitSteps(chosen, full);
    const now = this.clock.now();
    this.rollout = {
      id: 'ro-test-0001',
      kind: 'agent',
      name: 'gpufleet-agent',
      version: '0.3.0',
      targetPath: 'agent/gpufleet-agent-0.3.0.tgz',
      targetSha256: 'a'.repeat(64),
      selector: '',
      plan: full,
      signed: {} as RolloutRecord['signed'],
      state: 'running',
      step: 0,
      steps,
      forgivenFailures: 0,
      message: null,
      createdBy: 'test',
      createdAt: now,
      updatedAt: now,
    };
    this.hosts = chosen.map((h, i) => ({
      rolloutId: this.rollout.id,
      ...h,
      step: stepOf[i]!,
      position: i,
      state: 'pending',
      fromVersion: null,
      runningVersion: null,
      healthySince: null,
      failedAt: null,
      rollback: 'none',
      message: null,
      updatedAt: now,
    }));
  }

  world(): RolloutWorld {
    return {
      now: this.clock.now(),
      unavailable: (id) => (this.offline.has(id) ? 'offline' : (this.down.get(id) ?? null)),
      online: (id) => !this.offline.has(id),
    };
  }

  take(d: RolloutDecision | null): void {
    if (!d) return;
    this.rollout = d.rollout;
    this.hosts = d.hosts.length === this.hosts.length ? d.hosts : this.hosts.map((h) => d.hosts.find((x) => x.nodeId === h.nodeId) ?? h);
    this.frames.push(...d.frames);
    this.events.push(...d.events);
  }

  tick(): void {
    this.take(advance(this.rollout, this.hosts, this.world()));
  }

  report(name: string, state: UpdateStateData['state'], over: Partial<UpdateStateData> = {}): void {
    const host = this.host(name);
    this.take(
      applyReport(
        this.rollout,
        host,
        {
          rolloutId: this.rollout.id,
          kind: 'agent',
          name: 'gpufleet-agent',
          version: '0.3.0',
          fromVersion: '0.2.0',
          runningVersion: state === 'healthy' ? '0.3.0' : '0.2.0',
          state,
          rolledBack: false,
          reason: null,
          message: '',
          ...over,
        },
        this.clock.now(),
      ),
    );
  }

  healthy(...names: string[]): void {
    for (const n of names) this.report(n, 'healthy');
  }

  host(name: string): RolloutHostRecord {
    return this.hosts.find((h) => h.hostname === name)!;
  }

  states(): Record<string, string> {
    return Object.fromEntries(this.hosts.map((h) => [h.hostname, h.state]));
  }

  sent(op: 'apply' | 'rollback'): string[] {
    const out = this.frames.filter((f) => f.op === op).map((f) => this.hosts.find((h) => h.nodeId === f.nodeId)!.hostname);
    this.frames = this.frames.filter((f) => f.op !== op);
    return out;
  }

  stepStates(): string[] {
    return this.rollout.steps.map((s) => `${s.name}:${s.state}`);
  }
}

const FIVE = ['h1', 'h2', 'h3', 'h4', 'h5'];

describe('splitting hosts into steps', () => {
  it('orders by hostname, takes the canary, then cumulative shares of the rest rounded up; empty waves are left out', () => {
    const hosts = orderHosts(['b', 'a', 'c', 'e', 'd'].map((n) => ({ nodeId: `x-${n}`, hostname: n })));
    expect(hosts.map((h) => h.hostname)).toEqual(['a', 'b', 'c', 'd', 'e']);
    const { steps, stepOf } = splitSteps(hosts, { canary: 2, waves: [10, 50, 100], healthyForMs: 0, maxFailures: 0 });
    expect(steps.map((s) => [s.name, s.hosts])).toEqual([
      ['canary', 2],
      ['wave 1 (10%)', 1],
      ['wave 2 (50%)', 1],
      ['wave 3 (100%)', 1],
    ]);
    expect(stepOf).toEqual([0, 0, 1, 2, 3]);
    const small = splitSteps(hosts.slice(0, 2), { canary: 5, waves: [50, 100], healthyForMs: 0, maxFailures: 0 });
    expect(small.steps.map((s) => [s.name, s.hosts])).toEqual([['canary', 2]]);
    const noCanary = splitSteps(hosts, { canary: 0, waves: [100], healthyForMs: 0, maxFailures: 0 });
    expect(noCanary.steps.map((s) => [s.name, s.hosts])).toEqual([['wave 1 (100%)', 5]]);
  });
});

describe('the rollout state machine (fake clock)', () => {
  it('canary, then waves, each after healthy-for: succeeded', () => {
    const b = new Bench(FIVE);
    b.tick();
    expect(b.sent('apply')).toEqual(['h1']);
    expect(b.stepStates()).toEqual(['canary:running', 'wave 1 (50%):pending', 'wave 2 (100%):pending']);
    b.report('h1', 'verifying');
    b.report('h1', 'installing');
    b.tick();
    expect(b.rollout.steps[0]!.state).toBe('running');
    b.healthy('h1');
    b.tick();
    expect(b.rollout.steps[0]!.state).toBe('settling');
    b.clock.advance(9_999);
    b.tick();
    expect(b.sent('apply')).toEqual([]);
    b.clock.advance(1);
    b.tick();
    expect(b.stepStates()).toEqual(['canary:done', 'wave 1 (50%):running', 'wave 2 (100%):pending']);
    expect(b.sent('apply')).toEqual(['h2', 'h3']);
    b.healthy('h2', 'h3');
    b.tick();
    b.clock.advance(10_000);
    b.tick();
    expect(b.sent('apply')).toEqual(['h4', 'h5']);
    b.healthy('h4', 'h5');
    b.tick();
    b.clock.advance(10_000);
    b.tick();
    expect(b.rollout.state).toBe('succeeded');
    expect(b.stepStates().every((s) => s.endsWith(':done'))).toBe(true);
    expect(b.events.map((e) => e.kind)).toEqual([
      'step-started',
      'step-settling',
      'step-done',
      'step-started',
      'step-settling',
      'step-done',
      'step-started',
      'step-settling',
      'step-done',
      'succeeded',
    ]);
    expect(b.host('h1')).toMatchObject({ state: 'healthy', fromVersion: '0.2.0', runningVersion: '0.3.0', healthySince: 1_000_000 });
  });

  it('a wave with more failures than max-failures pauses, and failed hosts that did not roll back get a rollback frame', () => {
    const b = new Bench(['h1', 'h2', 'h3', 'h4', 'h5', 'h6'], { maxFailures: 1, healthyForMs: 0 });
    b.tick();
    b.healthy('h1');
    b.tick();
    expect(b.sent('apply')).toEqual(['h1', 'h2', 'h3', 'h4']);
    b.report('h2', 'failed', { rolledBack: true, message: 'self-check failed' });
    b.tick();
    expect(b.rollout.state).toBe('running'); // one failure is allowed
    b.report('h3', 'failed', { rolledBack: false, message: 'exec format error' });
    b.report('h4', 'refused', { reason: 'bad_signature', message: 'not signed by the invoker' });
    b.tick();
    expect(b.rollout.state).toBe('paused');
    expect(b.rollout.message).toMatch(/^paused: 3 hosts failed \(h2, h3, h4\), more than max-failures 1$/);
    expect(b.stepStates()[1]).toBe('wave 1 (50%):failed');
    // h2 rolled itself back, h4 never applied: only h3 is told.
    expect(b.sent('rollback')).toEqual(['h3']);
    expect(b.host('h3').rollback).toBe('sent');
    expect(b.host('h2').rollback).toBe('by-host');
    expect(b.events.filter((e) => e.kind.startsWith('host-')).map((e) => e.message)).toEqual([
      'h2 failed, rolled itself back: self-check failed',
      'h3 failed, did not roll back: exec format error',
      'h4 refused: not signed by the invoker',
    ]);
    b.tick();
    expect(b.sent('apply')).toEqual([]); // paused: nothing moves
    b.report('h3', 'rolled-back', { version: '0.2.0', runningVersion: '0.2.0' });
    expect(b.host('h3').state).toBe('rolled-back');
    // Resumed: the failures are accepted, the wave finishes, the next one starts.
    b.take(resume(b.rollout, b.hosts, b.clock.now(), 'token:ops'));
    b.tick();
    expect(b.rollout.state).toBe('running');
    expect(b.sent('apply')).toEqual(['h5', 'h6']);
    b.report('h5', 'failed', { rolledBack: true });
    b.report('h6', 'failed', { rolledBack: true });
    b.tick();
    expect(b.rollout.state).toBe('paused');
  });

  it('skips cordoned, draining and offline hosts with the reason, and a wave of only skipped hosts is done at once', () => {
    const b = new Bench(FIVE, { healthyForMs: 0 });
    b.down.set('id-h2', 'cordoned');
    b.down.set('id-h3', 'draining');
    b.offline.add('id-h4');
    b.tick();
    b.healthy('h1');
    b.tick();
    expect(b.sent('apply')).toEqual(['h1', 'h5']);
    expect(b.states()).toMatchObject({ h2: 'skipped', h3: 'skipped', h4: 'skipped' });
    expect(b.host('h2').message).toBe('skipped: cordoned');
    expect(b.host('h4').message).toBe('skipped: offline');
    expect(b.events.find((e) => e.kind === 'hosts-skipped')?.message).toBe('wave 1 (50%) skipped 2: h2 (cordoned), h3 (draining)');
    expect(b.stepStates()).toEqual(['canary:done', 'wave 1 (50%):done', 'wave 2 (100%):running']);
    b.healthy('h5');
    b.tick();
    expect(b.rollout.state).toBe('succeeded');
    expect(b.events.at(-1)?.message).toBe('rollout succeeded: 2 healthy, 3 skipped, 0 failed');
  });

  it('a skipped host that comes back is sent the update, in a running and in a succeeded rollout; one still down is not', () => {
    const b = new Bench(['h1', 'h2', 'h3'], { canary: 0, waves: [100], healthyForMs: 0 });
    b.offline.add('id-h2');
    b.down.set('id-h3', 'cordoned');
    b.tick();
    expect(b.sent('apply')).toEqual(['h1']);
    b.take(nodeBack(b.rollout, b.hosts, 'id-h2', b.world()));
    expect(b.sent('apply')).toEqual([]); // still offline
    b.healthy('h1');
    b.tick();
    expect(b.rollout.state).toBe('succeeded');
    b.offline.delete('id-h2');
    b.take(nodeBack(b.rollout, b.hosts, 'id-h2', b.world()));
    expect(b.sent('apply')).toEqual(['h2']);
    expect(b.host('h2').state).toBe('sent');
    expect(b.events.at(-1)).toMatchObject({ kind: 'host-returned', nodeId: 'id-h2' });
    b.take(nodeBack(b.rollout, b.hosts, 'id-h3', b.world()));
    expect(b.sent('apply')).toEqual([]); // still cordoned
    // A host removed while updating leaves its step instead of holding it forever.
    const gone = new Bench(['h1', 'h2'], { canary: 0, waves: [100], healthyForMs: 0 });
    gone.tick();
    gone.healthy('h1');
    gone.down.set('id-h2', 'removed');
    gone.tick();
    expect(gone.host('h2')).toMatchObject({ state: 'skipped', message: 'skipped: removed from the fleet while updating' });
    expect(gone.rollout.state).toBe('succeeded');
    // A host that is updating gets its apply again when it reconnects (running rollouts only).
    const r = new Bench(['h1'], { canary: 0, waves: [100] });
    r.tick();
    r.sent('apply');
    r.take(nodeBack(r.rollout, r.hosts, 'id-h1', r.world()));
    expect(r.sent('apply')).toEqual(['h1']);
    expect(r.host('h1').state).toBe('sent');
  });

  it('healthy-for starts again when a host goes offline or fails while the step settles', () => {
    const b = new Bench(['h1', 'h2', 'h3'], { canary: 2, waves: [100], maxFailures: 1 });
    b.tick();
    b.healthy('h1', 'h2');
    b.tick();
    expect(b.rollout.steps[0]!.state).toBe('settling');
    b.clock.advance(6_000);
    b.offline.add('id-h2');
    b.tick();
    expect(b.rollout.steps[0]).toMatchObject({ state: 'running', settlingSince: null });
    expect(b.events.at(-1)?.message).toBe('canary: h2 is offline; healthy-for starts again once every host is healthy');
    b.offline.delete('id-h2');
    b.tick();
    expect(b.rollout.steps[0]).toMatchObject({ state: 'settling', settlingSince: 1_006_000 });
    b.clock.advance(9_000); // 15 s after the first settling: not enough since the reset
    b.tick();
    expect(b.rollout.steps[0]!.state).toBe('settling');
    b.report('h1', 'failed', { rolledBack: true }); // within max-failures: counted, no longer waited for
    b.tick();
    expect(b.rollout.steps[0]!.state).toBe('settling');
    b.clock.advance(1_000);
    b.tick();
    expect(b.stepStates()).toEqual(['canary:done', 'wave 1 (100%):running']);
  });

  it('pause stops new steps, resume starts healthy-for again, abort rolls back every host that took the release', () => {
    const b = new Bench(FIVE);
    b.tick();
    b.healthy('h1');
    b.tick();
    b.take(pause(b.rollout, b.hosts, b.clock.now(), 'token:ops', 'lunch'));
    expect(b.rollout).toMatchObject({ state: 'paused', message: 'paused by token:ops: lunch' });
    b.clock.advance(60_000);
    b.tick();
    expect(b.sent('apply')).toEqual(['h1']);
    expect(b.rollout.steps[0]!.state).toBe('settling');
    b.take(resume(b.rollout, b.hosts, b.clock.now(), 'token:ops'));
    expect(b.rollout.steps[0]!.settlingSince).toBe(b.clock.now());
    b.tick();
    expect(b.sent('apply')).toEqual([]);
    b.clock.advance(10_000);
    b.tick();
    expect(b.sent('apply')).toEqual(['h2', 'h3']);
    b.report('h2', 'installing');
    b.report('h3', 'failed', { rolledBack: true });
    b.take(abort(b.rollout, b.hosts, b.clock.now(), 'token:ops', { rollback: true, reason: 'bad build' }));
    expect(b.rollout).toMatchObject({ state: 'aborted', message: 'aborted by token:ops: bad build' });
    expect(b.sent('rollback')).toEqual(['h1', 'h2']); // h3 went back by itself; h4 and h5 never got it
    expect(b.events.at(-1)?.message).toBe('aborted by token:ops: bad build; 2 hosts told to roll back');
    b.tick();
    expect(b.frames).toEqual([]);
    const quiet = new Bench(['h1'], { canary: 0, waves: [100] });
    quiet.tick();
    quiet.sent('apply');
    quiet.take(abort(quiet.rollout, quiet.hosts, quiet.clock.now(), 'x', { rollback: false }));
    expect(quiet.sent('rollback')).toEqual([]);
  });

  it('ignores reports about another release, another version, or a host never sent the update', () => {
    const b = new Bench(['h1', 'h2'], { canary: 1, waves: [100] });
    b.tick();
    b.report('h1', 'healthy', { version: '0.9.9' });
    b.report('h1', 'healthy', { kind: 'bundle', name: 'inference' });
    b.report('h2', 'healthy');
    expect(b.states()).toEqual({ h1: 'sent', h2: 'pending' });
  });
});

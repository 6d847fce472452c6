import { describe, expect, it } from 'vitest';
import { ROLLOUT_HOST_STATES, ROLLOUT_STATES } from '../../../protocol/src/rollout-views.js';
import { countsFixture, hostFixture, rolloutFixture, stepFixture } from '../testing/rollout-fixture.js';
import {
  currentStepText,
  filterHosts,
  HOST_GROUPS,
  hostFilterCounts,
  hostGroup,
  lastChange,
  parseHostFilter,
  planText,
  PROGRESS_PARTS,
  progressText,
  releaseText,
  ROLLOUT_ACTIVE_MS,
  ROLLOUT_IDLE_MS,
  ROLLOUT_RECENT_MS,
  rolloutActions,
  rolloutPagePath,
  rolloutProgress,
  rolloutRefreshMs,
  stepStateText,
  versionChange,
} from './rollouts.js';

describe('the host bar', () => {
  it('adds refused into "failed", keeps rolled back apart, and shares add up to what is not pending', () => {
    const p = rolloutProgress(countsFixture({ pending: 2, updating: 1, healthy: 4, failed: 1, refused: 1, rolledBack: 1, skipped: 2 }));
    expect(p).toMatchObject({ total: 12, healthy: 4, updating: 1, failed: 2, rolledBack: 1, skipped: 2, pending: 2 });
    expect(p.share.healthy).toBeCloseTo(100 / 3);
    expect(p.share.skipped).toBeCloseTo(100 / 6);
    expect(p.share.rolledBack).toBeCloseTo(100 / 12);
    expect(PROGRESS_PARTS.reduce((sum, k) => sum + p.share[k], 0)).toBeCloseTo((10 / 12) * 100);
    expect(progressText(p)).toBe('4 healthy · 1 updating · 2 failed · 1 rolled back · 2 skipped of 12 hosts');
  });

  it('no host: every share is 0, not NaN', () => {
    const p = rolloutProgress(countsFixture());
    expect(p.total).toBe(0);
    expect(Object.values(p.share)).toEqual([0, 0, 0, 0, 0]);
    expect(progressText(p)).toBe('0 healthy · 0 updating · 0 failed · 0 skipped of 0 hosts');
    expect(progressText(rolloutProgress(countsFixture({ healthy: 1 })))).toBe('1 healthy · 0 updating · 0 failed · 0 skipped of 1 host');
  });
});

describe('host states', () => {
  it('every state the protocol names falls into one of the counts', () => {
    const groups = ROLLOUT_HOST_STATES.map(hostGroup);
    for (const g of groups) expect(HOST_GROUPS).toContain(g);
    expect(Object.fromEntries(ROLLOUT_HOST_STATES.map((s) => [s, hostGroup(s)]))).toEqual({
      pending: 'pending',
      skipped: 'skipped',
      sent: 'updating',
      verifying: 'updating',
      installing: 'updating',
      restarting: 'updating',
      healthy: 'healthy',
      failed: 'failed',
      'rolled-back': 'rolledBack',
      refused: 'refused',
    });
  });

  it('the filter shows the hosts of one group, and counts each', () => {
    const hosts = rolloutFixture('ro_1').hosts;
    expect(filterHosts(hosts, 'all').map((h) => h.hostname)).toEqual(['gpu-01', 'gpu-02', 'gpu-03', 'gpu-04', 'gpu-05']);
    expect(filterHosts(hosts, 'updating').map((h) => h.hostname)).toEqual(['gpu-02']);
    expect(filterHosts(hosts, 'failed').map((h) => h.hostname)).toEqual(['gpu-03']);
    expect(filterHosts(hosts, 'refused')).toEqual([]);
    expect(filterHosts([...hosts, hostFixture('gpu-06', { state: 'restarting' })], 'updating').map((h) => h.hostname)).toEqual(['gpu-02', 'gpu-06']);
    expect(hostFilterCounts(hosts)).toEqual({ all: 5, pending: 1, updating: 1, healthy: 1, failed: 1, refused: 0, rolledBack: 0, skipped: 1 });
  });

  it('the filter read from ?state= takes only a group; garbage shows all', () => {
    expect(parseHostFilter('failed')).toBe('failed');
    expect(parseHostFilter('rolledBack')).toBe('rolledBack');
    for (const bad of [null, '', 'all', 'FAILED', 'rolled-back', 'installing', 'constructor', '__proto__', 'failed '])
      expect(parseHostFilter(bad), String(bad)).toBe('all');
  });
});

describe('words for a rollout', () => {
  it('releases as the CLI writes them', () => {
    expect(releaseText({ kind: 'agent', name: 'gpufleet-agent', version: '0.3.0' })).toBe('agent@0.3.0');
    expect(releaseText({ kind: 'bundle', name: 'inference', version: '12' })).toBe('inference@12');
  });

  it('the current step: its name and place, "done" once succeeded, the bare index when the server sends one past the end', () => {
    const r = rolloutFixture('ro_1');
    expect(currentStepText(r)).toBe('wave 1 (50%) · 2 of 3');
    expect(currentStepText({ ...r, step: 0 })).toBe('canary · 1 of 3');
    expect(currentStepText({ ...r, state: 'paused', step: 2 })).toBe('wave 2 (100%) · 3 of 3');
    expect(currentStepText({ ...r, state: 'succeeded', step: 2 })).toBe('done');
    expect(currentStepText({ ...r, steps: [] })).toBe('no hosts');
    expect(currentStepText({ ...r, step: 7 })).toBe('step 8 · 3 of 3');
  });

  it("a step's state says what it waits for; a failed step says whether the abort stopped it", () => {
    const r = rolloutFixture('ro_1');
    expect(stepStateText(stepFixture(1, 'w', { state: 'settling' }), r)).toBe('all healthy; must stay so 10 min');
    expect(stepStateText(stepFixture(1, 'w', { state: 'pending' }), r)).toBe('waits for the step before');
    expect(stepStateText(stepFixture(1, 'w', { state: 'failed' }), { ...r, state: 'paused' })).toBe('too many hosts failed');
    expect(stepStateText(stepFixture(1, 'w', { state: 'failed' }), { ...r, state: 'aborted' })).toBe('stopped by the abort');
  });

  it('the plan in words', () => {
    expect(planText({ canary: 2, waves: [10, 50, 100], healthyForMs: 600_000, maxFailures: 1 })).toEqual({
      canary: '2 hosts first',
      waves: '10%, 50%, 100%',
      healthyFor: '10 min',
      maxFailures: '1',
    });
    expect(planText({ canary: 0, waves: [100], healthyForMs: 0, maxFailures: 0 })).toEqual({
      canary: 'none',
      waves: '100%',
      healthyFor: 'no wait',
      maxFailures: '0',
    });
    expect(planText({ canary: 1, waves: [100], healthyForMs: 90_000, maxFailures: 3 }).canary).toBe('1 host first');
  });

  it('versions from → running, a dash for one not known', () => {
    expect(versionChange({ fromVersion: '0.2.1', runningVersion: '0.3.0' })).toBe('0.2.1 → 0.3.0');
    expect(versionChange({ fromVersion: null, runningVersion: null })).toBe('— → —');
  });

  it('paths are encoded', () => {
    expect(rolloutPagePath('ro/1?x')).toBe('/rollouts/ro%2F1%3Fx');
  });
});

describe('what an operator may do, and how often the page reads again', () => {
  it('running: pause or abort; paused: resume or abort; over: nothing', () => {
    expect(Object.fromEntries(ROLLOUT_STATES.map((s) => [s, rolloutActions(s)]))).toEqual({
      running: ['pause', 'abort'],
      paused: ['resume', 'abort'],
      succeeded: [],
      aborted: [],
    });
  });

  it('fast while any rollout runs, is paused or changed in the last minute; slow once all are over and quiet, or none is known', () => {
    const now = Date.parse('2026-12-06T12:00:00.000Z');
    const at = (msAgo: number) => new Date(now - msAgo).toISOString();
    expect(rolloutRefreshMs([{ state: 'running', updatedAt: at(3_600_000) }], now)).toBe(ROLLOUT_ACTIVE_MS);
    expect(
      rolloutRefreshMs(
        [
          { state: 'succeeded', updatedAt: at(3_600_000) },
          { state: 'paused', updatedAt: at(3_600_000) },
        ],
        now,
      ),
    ).toBe(ROLLOUT_ACTIVE_MS);
    // Just aborted: the hosts told to roll back have yet to say so.
    expect(rolloutRefreshMs([{ state: 'aborted', updatedAt: at(5_000) }], now)).toBe(ROLLOUT_ACTIVE_MS);
    expect(rolloutRefreshMs([{ state: 'aborted', updatedAt: at(ROLLOUT_RECENT_MS) }], now)).toBe(ROLLOUT_IDLE_MS);
    expect(
      rolloutRefreshMs(
        [
          { state: 'succeeded', updatedAt: at(600_000) },
          { state: 'aborted', updatedAt: at(600_000) },
        ],
        now,
      ),
    ).toBe(ROLLOUT_IDLE_MS);
    expect(rolloutRefreshMs([{ state: 'succeeded', updatedAt: 'garbage' }], now)).toBe(ROLLOUT_IDLE_MS);
    expect(rolloutRefreshMs([], now)).toBe(ROLLOUT_IDLE_MS);
    expect(ROLLOUT_ACTIVE_MS).toBeLessThan(ROLLOUT_IDLE_MS);
  });

  it("a rollout's last change counts its hosts' reports", () => {
    const r = rolloutFixture('ro_1', { state: 'aborted', updatedAt: '2026-12-06T10:00:00.000Z' });
    expect(lastChange({ ...r, hosts: [] })).toEqual({ state: 'aborted', updatedAt: '2026-12-06T10:00:00.000Z' });
    const late = hostFixture('gpu-09', { updatedAt: '2026-12-06T10:05:00.000Z' });
    expect(lastChange({ ...r, hosts: [...r.hosts, late] }).updatedAt).toBe('2026-12-06T10:05:00.000Z');
  });
});

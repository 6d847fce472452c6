import type { RolloutCounts, RolloutDetail, RolloutHostView, RolloutStepView } from '../lib/rollouts.js';

/*
 * Rollout shapes as the server writes them (protocol rollout-views.ts), for component tests:
 * typed by the protocol's interfaces, so a field the server adds or renames breaks the build here.
 */

export const ROLLOUT_SHA = 'c0ffee'.padEnd(64, '0');
export const nodeIdOf = (hostname: string) => `did:key:z6MkRollout${hostname.replace(/[^A-Za-z0-9]/g, '')}`.padEnd(56, 'A');

export function countsFixture(over: Partial<RolloutCounts> = {}): RolloutCounts {
  return { pending: 0, updating: 0, healthy: 0, failed: 0, refused: 0, rolledBack: 0, skipped: 0, ...over };
}

export function stepFixture(index: number, name: string, over: Partial<RolloutStepView> = {}): RolloutStepView {
  return { index, name, hosts: 1, state: 'pending', startedAt: null, doneAt: null, ...over };
}

export function hostFixture(hostname: string, over: Partial<RolloutHostView> = {}): RolloutHostView {
  return {
    nodeId: nodeIdOf(hostname),
    hostname,
    step: 0,
    state: 'pending',
    fromVersion: '0.2.1',
    runningVersion: '0.2.1',
    healthySince: null,
    message: null,
    updatedAt: '2026-12-06T10:00:00.000Z',
    ...over,
  };
}

/**
 * An agent@0.3.0 rollout to pool=inference, canary 1 then waves 50%,100% over 5 hosts, in its
 * first wave: the canary healthy, gpu-02 installing, gpu-03 failed, gpu-04 skipped (cordoned),
 * gpu-05 pending. Counts agree with the hosts.
 */
export function rolloutFixture(id: string, over: Partial<RolloutDetail> = {}): RolloutDetail {
  const hosts = [
    hostFixture('gpu-01', { step: 0, state: 'healthy', runningVersion: '0.3.0', healthySince: '2026-12-06T10:02:00.000Z' }),
    hostFixture('gpu-02', { step: 1, state: 'installing' }),
    hostFixture('gpu-03', { step: 1, state: 'failed', message: 'self-check failed: exit 3' }),
    hostFixture('gpu-04', { step: 1, state: 'skipped', message: 'cordoned' }),
    hostFixture('gpu-05', { step: 2, state: 'pending' }),
  ];
  return {
    id,
    release: { kind: 'agent', name: 'gpufleet-agent', version: '0.3.0' },
    target: { path: 'agent/gpufleet-agent-0.3.0.tgz', sha256: ROLLOUT_SHA },
    selector: 'pool=inference',
    plan: { canary: 1, waves: [50, 100], healthyForMs: 600_000, maxFailures: 1 },
    state: 'running',
    step: 1,
    steps: [
      stepFixture(0, 'canary', { state: 'done', startedAt: '2026-12-06T10:00:00.000Z', doneAt: '2026-12-06T10:12:00.000Z' }),
      stepFixture(1, 'wave 1 (50%)', { hosts: 3, state: 'running', startedAt: '2026-12-06T10:12:00.000Z' }),
      stepFixture(2, 'wave 2 (100%)'),
    ],
    counts: countsFixture({ pending: 1, updating: 1, healthy: 1, failed: 1, skipped: 1 }),
    message: null,
    createdBy: 'ops',
    createdAt: '2026-12-06T10:00:00.000Z',
    updatedAt: '2026-12-06T10:13:00.000Z',
    hosts,
    ...over,
  };
}

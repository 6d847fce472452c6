import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { UpdateStateData } from '@gpufleet/protocol';
import { silentLogger } from '../runtime/logger.js';
import { AgentSelfCheck } from './agent-self-check.js';
import { updateFailure } from './update-failures.js';
import { pendingUpdatePath, readPendingUpdate, writePendingUpdate, type PendingUpdate } from './pending-update.js';

/** What each build says at start from the pending-update record the switch left. */

let dir: string;
let reports: UpdateStateData[];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'self-check-'));
  reports = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const record = (over: Partial<PendingUpdate> = {}): PendingUpdate => ({
  v: 1,
  rolloutId: 'rollout-0001',
  op: 'update',
  fromVersion: '9.9.1',
  toVersion: '9.9.2',
  version: '9.9.2',
  state: 'switched',
  switchedAt: 1,
  reason: null,
  ...over,
});

function check(runningVersion: string): AgentSelfCheck {
  const c = new AgentSelfCheck({ dataDir: dir, runningVersion, report: (d) => void reports.push(d), logger: silentLogger });
  c.start();
  return c;
}

describe('agent self-check', () => {
  it('the new build owes its self-check; passing it confirms the record, reports healthy and clears it', () => {
    writePendingUpdate(dir, record());
    const c = check('9.9.2');
    expect(c.pending).toBe(true);
    expect(reports).toEqual([]);
    expect(readPendingUpdate(dir)?.state).toBe('switched');
    c.healthy();
    expect(reports).toEqual([
      {
        rolloutId: 'rollout-0001',
        kind: 'agent',
        name: 'gpufleet-agent',
        version: '9.9.2',
        fromVersion: '9.9.1',
        runningVersion: '9.9.2',
        state: 'healthy',
        rolledBack: false,
        reason: null,
        message: 'agent 9.9.2 runs and passed its self-check (was 9.9.1)',
      },
    ]);
    expect(readPendingUpdate(dir)).toBeNull();
    c.healthy();
    expect(reports).toHaveLength(1);
  });

  it('a collection before any welcome passes only a side-loaded build (no server needed)', () => {
    writePendingUpdate(dir, record());
    const online = check('9.9.2');
    online.collected(false);
    expect(online.pending).toBe(true);
    online.collected(true);
    expect(online.pending).toBe(false);
    writePendingUpdate(dir, record({ rolloutId: null, needsServer: false }));
    const offline = check('9.9.2');
    offline.collected(false);
    expect(offline.pending).toBe(false);
    expect(reports.map((r) => [r.state, r.rolloutId])).toEqual([
      ['healthy', 'rollout-0001'],
      ['healthy', null],
    ]);
  });

  it('the build the launcher went back to reports the failure with its reason', () => {
    writePendingUpdate(dir, record({ state: 'rolled-back', reason: 'the new agent 9.9.2 exited with code 1 before its self-check' }));
    const c = check('9.9.1');
    expect(c.pending).toBe(false);
    expect(reports).toMatchObject([
      { state: 'failed', rolledBack: true, version: '9.9.2', runningVersion: '9.9.1', message: 'the new agent 9.9.2 exited with code 1 before its self-check' },
    ]);
    expect(readPendingUpdate(dir)).toBeNull();
    // Remembered, so the same rollout sent again is answered with the failure, not installed again.
    expect(updateFailure(dir, 'rollout-0001')).toMatchObject({ version: '9.9.2', message: /exited with code 1/ });
    expect(updateFailure(dir, 'rollout-0002')).toBeNull();
  });

  it('an agent restarted as the old build without the launcher reports that the new one never ran', () => {
    writePendingUpdate(dir, record());
    check('9.9.1');
    expect(reports).toMatchObject([{ state: 'failed', rolledBack: true, message: expect.stringMatching(/started as 9.9.1, not the new build 9.9.2/) }]);
  });

  it('a confirmed record not yet reported is reported; an ordered rollback reports rolled-back', () => {
    writePendingUpdate(dir, record({ state: 'confirmed' }));
    check('9.9.2');
    writePendingUpdate(dir, record({ op: 'rollback', rolloutId: null, fromVersion: '9.9.2', toVersion: '9.9.1', version: '9.9.2', reason: 'wave failed' }));
    check('9.9.1').healthy();
    expect(reports).toMatchObject([
      { state: 'healthy', runningVersion: '9.9.2' },
      { state: 'rolled-back', rolledBack: true, rolloutId: null, runningVersion: '9.9.1', message: 'back on agent 9.9.1 (was 9.9.2): wave failed' },
    ]);
  });

  it('ignores a missing or damaged record', () => {
    expect(check('9.9.2').pending).toBe(false);
    for (const garbage of ['{', '[]', 'null', JSON.stringify({ ...record(), state: 'maybe' }), JSON.stringify({ ...record(), rolloutId: '../x' })]) {
      writeFileSync(pendingUpdatePath(dir), garbage);
      expect(check('9.9.2').pending, garbage).toBe(false);
    }
    expect(reports).toEqual([]);
  });
});

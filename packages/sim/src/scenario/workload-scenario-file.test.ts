import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { parseScenario } from './scenario-file.js';

/* Scenario files with workloads: job submissions, stops and drains, faults on allocations, events that wait, and workload conditions. */

const dir = mkdtempSync(join(tmpdir(), 'gpufleet-scn-jobs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(
  join(dir, 'web.job.yaml'),
  `name: web
allocations:
  web:
    count: 3
    image: ghcr.io/example/vllm:0.6
    resources: { gpus: 1 }
    health: { http: ":8000/health", interval: 200ms, grace: 0s, failures: 2 }
reschedule: { offline_grace: 3s }
`,
);

const GOOD = `
name: moves
fleet: {nodes: 2, mix: {H100: 1}, gpus: 2}
events:
  - {at: 0s, action: submit, job: web.job.yaml}
  - {at: 0s, action: submit, job: {name: batch, kind: batch, allocations: {train: {executor: process, command: [train], env: {SIM_EXIT_AFTER: 1s, SIM_EXIT_CODE: 0}}}}}
  - {at: 0s, inject: xid, alloc: web/web-0, code: 79, when: {job: web, status: running, running: 3}, within: 15s}
  - {at: 1s, inject: alloc-crash, alloc: web/web-1, exitCode: 137}
  - {at: 1s, inject: alloc-unhealthy, alloc: web/web-2, duration: 2s}
  - {at: 2s, action: drain, node: sim-h100-002, deadline: 5s}
  - {at: 3s, action: stop, job: batch, purge: true}
assert:
  - {within: 10s, expect: {alloc: web/web-0, status: running, moved: true}}
  - {expect: {job: web, status: [running, degraded], running: 3, counts: {running: 3, lost: 0}, replaced: [web-0]}}
  - {expect: {allocations: {job: web, node: sim-h100-001, status: [running, starting], count: 2}}}
  - {never: {alloc: web/web-1, restarts: 5}, during: 1s}
  - {expect: {job: web, deployment: reverted, version: 2, versions: {1: current, 2: reverted}}}
  - {expect: {alloc: web/web-2, healthy: false, node: sim-h100-002, version: 1}}
`;

function problem(text: string, source = join(dir, 'bad.yaml')): string {
  try {
    parseScenario(text, source);
  } catch (err) {
    expect(FleetError.is(err, 'invalid_argument'), String(err)).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected the scenario to be refused');
}

describe('scenario files with workloads', () => {
  it('reads job submissions (a file and an inline job), stops, drains, allocation faults and conditions', () => {
    const s = parseScenario(GOOD, join(dir, 'moves.yaml'));
    expect(s.submitsJobs).toBe(true);
    expect(s.gated).toBe(true);
    const [file, inline, xid, crash, sick, drain, stop] = s.events;
    expect(file!.submit).toMatchObject({ from: 'web.job.yaml', spec: { name: 'web', reschedule: { offline_grace: 3000 } } });
    expect(file!.submit!.spec.allocations.web!.health).toMatchObject({ interval: 200, grace: 0, failures: 2 });
    expect(inline!.submit).toMatchObject({ from: 'inline', spec: { name: 'batch', kind: 'batch' } });
    // Numbers written in the scenario stay text in the job's env, as in a job file.
    expect(inline!.submit!.spec.allocations.train!.env).toEqual({ SIM_EXIT_AFTER: '1s', SIM_EXIT_CODE: '0' });
    expect(inline!.submit!.source).toMatch(/^name: batch\n/);
    expect(xid).toMatchObject({ inject: 'xid', alloc: 'web/web-0', code: 79, when: { job: 'web', status: 'running', running: 3 }, withinMs: 15_000 });
    expect(crash).toMatchObject({ inject: 'alloc-crash', exitCode: 137, when: null, withinMs: 10_000 });
    expect(sick).toMatchObject({ duration: 2000 });
    expect(drain).toMatchObject({ action: 'drain', node: 'sim-h100-002', deadline: 5000 });
    expect(stop).toMatchObject({ action: 'stop', job: 'batch', purge: true });
    expect(s.events.map((e) => e.text)).toEqual([
      'at 0s: submit web.job.yaml',
      'at 0s: submit job batch',
      'at 0s: xid 79 where web/web-0 runs once job web status running, 3 running (within 15s)',
      'at 1s: alloc-crash exit code 137 of web/web-1',
      'at 1s: alloc-unhealthy of web/web-2 for 2s',
      'at 2s: drain sim-h100-002 deadline 5s',
      'at 3s: stop job batch (purge)',
    ]);
    expect(s.assertions.map((a) => a.text)).toEqual([
      'expect allocation web/web-0 status running, moved within 10s',
      'expect job web status running|degraded, 3 running, allocations 3 running, 0 lost, replaced exactly web-0 within 5s',
      'expect 2 allocation(s) of web, on sim-h100-001, running|starting within 5s',
      'never allocation web/web-1 5 restarts during 1s',
      'expect job web version 2, update reverted, version 1 current, version 2 reverted within 5s',
      'expect allocation web/web-2 on sim-h100-002, unhealthy, version 1 within 5s',
    ]);
  });

  it('a scenario of faults only neither submits nor waits', () => {
    const s = parseScenario(
      'fleet: {nodes: 1}\nevents:\n  - {at: 0s, inject: xid, host: sim-h100-001, gpu: 0, code: 13}\nassert:\n  - {expect: {node: sim-h100-001, status: READY}}\n',
    );
    expect(s).toMatchObject({ submitsJobs: false, gated: false });
    expect(s.events[0]!.submit).toBeNull();
  });

  const cases: Array<[string, string, RegExp]> = [
    [
      'unknown action',
      GOOD.replace('action: stop, job: batch', 'action: explode, job: batch'),
      /bad\.yaml:11:\d+: events\[6\]\.action: action must be one of submit, stop, drain/,
    ],
    ['missing job file', GOOD.replace('job: web.job.yaml', 'job: nope.yaml'), /bad\.yaml:5:\d+: events\[0\]\.job: cannot read job file .*nope\.yaml: ENOENT/],
    [
      'bad inline job',
      GOOD.replace('command: [train]', 'command: [train], replicas: 2'),
      /bad\.yaml:6:\d+: events\[1\]\.job: inline job: allocations\.train\.replicas: unknown field \(did you mean count\?\)/,
    ],
    ['inline job without fields', GOOD.replace(/job: \{name: batch.*\}\}\}\}\}/, 'job: {}}'), /events\[1\]\.job/],
    ['job given as a number', GOOD.replace('job: web.job.yaml', 'job: 12'), /events\[0\]\.job: expected a job file path/],
    ['stop of a bad job name', GOOD.replace('action: stop, job: batch', 'action: stop, job: Batch!'), /events\[6\]\.job: expected a job name/],
    ['drain of an unknown node', GOOD.replace('node: sim-h100-002, deadline', 'node: sim-h100-009, deadline'), /events\[5\]\.node: no host 'sim-h100-009'/],
    ['drain deadline too short', GOOD.replace('deadline: 5s', 'deadline: 500ms'), /events\[5\]\.deadline: a drain deadline is from 1s to 7 days/],
    ['drain with an extra key', GOOD.replace('deadline: 5s', 'deadline: 5s, force: true'), /events\[5\]\.force/],
    ['within without when', GOOD.replace('exitCode: 137}', 'exitCode: 137, within: 2s}'), /events\[3\]\.within: within is how long to wait for when/],
    ['when that is not a condition', GOOD.replace('when: {job: web, status: running, running: 3}', 'when: soon'), /events\[2\]\.when: expected a condition/],
    [
      'when on an unknown host',
      GOOD.replace('when: {job: web, status: running, running: 3}', 'when: {node: sim-h100-007, status: READY}'),
      /events\[2\]\.when\.node: no host/,
    ],
    ['alloc fault without alloc', GOOD.replace('inject: alloc-crash, alloc: web/web-1', 'inject: alloc-crash'), /events\[3\]\.alloc: expected an allocation/],
    [
      'alloc target and host',
      GOOD.replace('inject: xid, alloc: web/web-0', 'inject: xid, host: sim-h100-001, alloc: web/web-0'),
      /events\[2\]\.alloc: give host or alloc, not both/,
    ],
    [
      'alloc target with a GPU out of range',
      GOOD.replace('alloc: web/web-0, code: 79', 'alloc: web/web-0, gpu: 5, code: 79'),
      /events\[2\]\.gpu: the hosts have GPUs 0 to 1, not 5/,
    ],
    [
      'job condition with nothing to check',
      GOOD.replace('{job: web, deployment: reverted, version: 2, versions: {1: current, 2: reverted}}', '{job: web}'),
      /assert\[4\]\.expect: say what to check/,
    ],
    ['job condition with an unknown status', GOOD.replace('status: [running, degraded]', 'status: [running, sleepy]'), /assert\[1\]\.expect\.status/],
    ['a version status that is not one', GOOD.replace('2: reverted}', '2: broken}'), /assert\[4\]\.expect\.versions/],
    ['a version that is not a number', GOOD.replace('1: current,', 'one: current,'), /assert\[4\]\.expect\.versions.*a version number/],
    ['counts with an unknown status', GOOD.replace('lost: 0', 'vanished: 0'), /assert\[1\]\.expect\.counts/],
    [
      'alloc condition without job/name',
      GOOD.replace('{alloc: web/web-0, status: running, moved: true}', '{alloc: a1b2c3d4e5, moved: true}'),
      /assert\[0\]\.expect\.alloc: expected job\/name/,
    ],
    [
      'alloc condition with nothing to check',
      GOOD.replace('{alloc: web/web-0, status: running, moved: true}', '{alloc: web/web-0}'),
      /assert\[0\]\.expect: say what to check/,
    ],
    [
      'alloc condition on an unknown node',
      GOOD.replace('node: sim-h100-002, version: 1', 'node: sim-x-1, version: 1'),
      /assert\[5\]\.expect\.node: no host 'sim-x-1'/,
    ],
    ['allocations without count', GOOD.replace(', count: 2}', '}'), /assert\[2\]\.expect\.allocations\.count/],
    ['allocations with a negative count', GOOD.replace('count: 2}', 'count: -2}'), /assert\[2\]\.expect\.allocations\.count/],
    [
      'allocations on an unknown node',
      GOOD.replace('node: sim-h100-001, status: [running, starting]', 'node: sim-h100-003, status: [running, starting]'),
      /allocations\.node: no host/,
    ],
    ['restarts that are not a number', GOOD.replace('restarts: 5', 'restarts: many'), /assert\[3\]\.never\.restarts/],
    ['version zero', GOOD.replace('version: 1}', 'version: 0}'), /assert\[5\]\.expect\.version/],
  ];
  for (const [what, text, why] of cases) {
    it(`refuses ${what}`, () => {
      expect(text, 'the case must change the scenario').not.toBe(GOOD);
      expect(problem(text)).toMatch(why);
    });
  }
});

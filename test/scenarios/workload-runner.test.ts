import { describe, expect, it } from 'vitest';
import { formatScenarioReport, parseScenario, runScenario } from '@gpufleet/sim';

/*
 * The scenario runner's workload steps against a fresh in-process server and simulated hosts
 * running the real agent with the fake executors: a crash handled on the host (restarted, not
 * moved), health failing for a while and recovering, a job that cannot be placed, and runs that
 * must fail (a refused action, a condition that never holds, an allocation that does not exist).
 */

describe('scenario runner: workloads', () => {
  it('crashes an allocation (its host restarts it in place), fails its health for a while (restarted, healthy again), and reports a job it cannot place', async () => {
    const scenario = parseScenario(`
name: workload-steps
fleet: {nodes: 1, mix: {H100: 1}, gpus: 2, seed: 5}
events:
  - at: 0s
    action: submit
    job:
      name: web
      allocations:
        web:
          count: 2
          image: example/web:1
          resources: {gpus: 1}
          health: {http: ':8000/health', interval: 100ms, timeout: 100ms, grace: 0s, failures: 3}
          restart: {attempts: 3, delay: 0s}
  - {at: 0s, action: submit, job: {name: big, allocations: {train: {image: example/train:1, resources: {gpus: 4}}}}}
  - {at: 0s, inject: alloc-crash, alloc: web/web-0, exitCode: 3, when: {job: web, running: 2}}
  - {at: 0s, inject: alloc-unhealthy, alloc: web/web-1, duration: 500ms, when: {alloc: web/web-1, healthy: true}}
assert:
  - {within: 8s, expect: {alloc: web/web-0, status: running, restarts: 1, moved: false, node: sim-h100-001}}
  - {within: 8s, expect: {alloc: web/web-1, status: running, healthy: true, restarts: 1, moved: false}}
  - {within: 8s, expect: {job: big, status: pending, running: 0}}
  - {never: {allocations: {job: big, count: 1}}, during: 1s}
`);
    const result = await runScenario(scenario);
    expect(result.passed, formatScenarioReport(result)).toBe(true);
    expect(result.events[0]!.detail).toMatch(/^job web version 1 submitted: 2 placed$/);
    expect(result.events[1]!.detail).toMatch(/^job big version 1 submitted: 0 placed; cannot place train: /);
    expect(result.events[2]!.detail).toMatch(/web\/web-0 \(.+\) crashed with exit code 3/);
    // Health failing for good: restarted once (its policy), then failed.
    const sick = parseScenario(`
fleet: {nodes: 1, mix: {H100: 1}, gpus: 1, seed: 6}
events:
  - at: 0s
    action: submit
    job:
      name: web
      allocations:
        web:
          image: example/web:1
          resources: {gpus: 1}
          health: {tcp: ':80', interval: 100ms, timeout: 100ms, grace: 0s, failures: 2}
          restart: {attempts: 1, delay: 0s}
  - {at: 0s, inject: alloc-unhealthy, alloc: web/web-0, when: {alloc: web/web-0, healthy: true}}
assert:
  - {within: 8s, expect: {job: web, counts: {failed: 1, running: 0}}}
  - {within: 8s, expect: {alloc: web/web-0, status: failed, restarts: 1}}
`);
    const failed = await runScenario(sick);
    expect(failed.passed, formatScenarioReport(failed)).toBe(true);
  }, 60_000);

  it('fails on an action the server refuses, a condition that never holds and an allocation that does not exist', async () => {
    const scenario = parseScenario(`
name: workload-must-fail
fleet: {nodes: 1, mix: {H100: 1}, gpus: 1, seed: 7}
events:
  - {at: 0s, action: submit, job: {name: web, allocations: {web: {image: example/web:1, resources: {gpus: 1}}}}}
  - {at: 0s, action: stop, job: nothing}
  - {at: 0s, inject: alloc-crash, alloc: web/web-0, when: {job: web, running: 5}, within: 1s}
  - {at: 0s, inject: alloc-crash, alloc: web/web-7, when: {job: web, running: 1}}
assert:
  - {within: 1s, expect: {alloc: web/web-3, status: running}}
  - {within: 5s, expect: {job: web, status: running, running: 1}}
`);
    const result = await runScenario(scenario);
    expect(result.passed).toBe(false);
    expect(result.error).toBeNull();
    const [submit, stop, never, missing] = result.events;
    expect(submit!.ok).toBe(true);
    expect(stop).toMatchObject({ ok: false });
    expect(stop!.detail).toMatch(/^stopping job nothing: 404: /);
    expect(never).toMatchObject({ ok: false });
    expect(never!.detail).toMatch(/its condition did not hold within 1 s: job web: 1 of 1 running/);
    expect(missing).toMatchObject({ ok: false });
    expect(missing!.detail).toMatch(/no running simulated allocation 'web\/web-7' \(running: web\/web-0\)/);
    const [noSuch, running] = result.assertions;
    expect(noSuch).toMatchObject({ passed: false });
    expect(noSuch!.seen).toMatch(/still not after 1 s: allocation web\/web-3: 404/);
    expect(running).toMatchObject({ passed: true });
    expect(formatScenarioReport(result)).toMatch(/FAILED {2}line 6: at 0s: stop job nothing: stopping job nothing: 404: no job 'nothing'/);
  }, 60_000);
});
